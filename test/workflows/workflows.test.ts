import { register } from 'node:module';
import { it, expect } from 'vitest';
const hooks = `export async function load(url, context, nextLoad) {
  if (url.endsWith('.json') && url.includes('/@actions/workflow-parser/') && context.importAttributes?.type === undefined)
    return nextLoad(url, { ...context, importAttributes: { ...context.importAttributes, type: 'json' } });
  return nextLoad(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
const { parseWorkflow, NoOperationTraceWriter } = await import('@actions/workflow-parser');
it('probe', () => {
  const r = parseWorkflow({ name: 'x.yml', content: 'on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo\n' }, new NoOperationTraceWriter());
  expect(r.context.errors.getErrors()).toEqual([]);
});
