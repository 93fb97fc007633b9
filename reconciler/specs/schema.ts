// JSON Schema validation of one resource with ajv, and ajv's errors turned into
// findings that say, in the spec author's terms, what is wrong and what to write.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { closest } from '../diagnostics.js';
import type { Finding, KindModule } from '../kinds/kind.js';
import type { PathSegment } from './source.js';

// Every schema compiled here is fleetspec's own (the kinds, the policy file, the rules' params), so
// they are not checked against the draft 2020-12 meta-schema at run time: compiling that meta-schema
// was half of `fleetspec validate`'s schema cost. test/startup.test.ts checks each schema against it
// instead. Strict mode still refuses unknown keywords. ajv's code optimisation passes are off too:
// they cost about as much again at compile time, and bench/validate.ts (6,000 resources) runs no
// slower without them.
const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true, validateSchema: false, code: { optimize: false } });
const compiled = new WeakMap<object, ValidateFunction>();

/** Schema findings for one value of a kind; empty when it conforms. */
export function checkSchema(kind: KindModule<any>, value: unknown): Finding[] {
  return checkAgainst(kind.schema, value);
}

/** Findings for a value against any JSON Schema (policy files, rule params), compiled once per schema object. */
export function checkAgainst(schema: object, value: unknown): Finding[] {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(value)) return [];
  const findings = (validate.errors ?? []).map(toFinding);
  // ajv reports one error per failing keyword; keep one per place and kind of problem.
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.path.join('/')}|${f.code}|${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
}

function show(data: unknown): string {
  if (typeof data === 'string') return JSON.stringify(data);
  if (data === null) return 'null';
  if (Array.isArray(data)) return 'a list';
  if (typeof data === 'object') return 'a mapping';
  return String(data);
}

function typeName(data: unknown): string {
  if (data === null) return 'null';
  if (Array.isArray(data)) return 'a list';
  if (typeof data === 'object') return 'a mapping';
  return `${typeof data} ${show(data)}`;
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
};

function toFinding(e: ErrorObject): Finding {
  const path = pointerToPath(e.instancePath);
  const parent = (e.parentSchema ?? {}) as { description?: string; properties?: Record<string, { description?: string }> };
  const description = parent.description;
  switch (e.keyword) {
    case 'required': {
      const field = (e.params as { missingProperty: string }).missingProperty;
      const what = parent.properties?.[field]?.description;
      return {
        code: 'schema.missing-field',
        path,
        message: `missing required field "${field}"`,
        hint: `add ${field}:${what ? ` (${what})` : ''}`,
      };
    }
    case 'additionalProperties': {
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(parent.properties ?? {});
      const near = closest(field, allowed);
      return {
        code: 'schema.unknown-field',
        path: [...path, field],
        atKey: true,
        message: `unknown field "${field}"`,
        hint: near ? `did you mean "${near}"?` : allowed.length ? `allowed here: ${allowed.join(', ')}` : 'remove it',
      };
    }
    case 'enum': {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String);
      const near = typeof e.data === 'string' ? closest(e.data, allowed) : undefined;
      return {
        code: 'schema.not-allowed',
        path,
        message: `${show(e.data)} is not one of: ${allowed.join(', ')}`,
        hint: near ? `did you mean "${near}"?` : description ?? `use one of: ${allowed.join(', ')}`,
      };
    }
    case 'const': {
      const expected = (e.params as { allowedValue: unknown }).allowedValue;
      return { code: 'schema.not-allowed', path, message: `${show(e.data)} must be ${show(expected)}`, hint: `write ${show(expected)}` };
    }
    case 'type': {
      const expected = String((e.params as { type: string }).type)
        .split(',')
        .map((t) => TYPE_WORDS[t] ?? t)
        .join(' or ');
      return {
        code: 'schema.wrong-type',
        path,
        message: `expected ${expected}, got ${typeName(e.data)}`,
        hint:
          typeof e.data === 'string' && expected.includes('number') && /^-?[0-9]+(\.[0-9]+)?$/.test(e.data)
            ? `remove the quotes: write ${e.data}`
            : description ?? `write ${expected} here`,
      };
    }
    case 'pattern':
      return {
        code: 'schema.bad-format',
        path,
        message: `${show(e.data)} is not in the expected format`,
        hint: description ? `expected ${description}` : `it must match ${(e.params as { pattern: string }).pattern}`,
      };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const { comparison, limit } = e.params as { comparison: string; limit: number };
      return { code: 'schema.out-of-range', path, message: `${show(e.data)} must be ${comparison} ${limit}`, hint: description ?? `use a value ${comparison} ${limit}` };
    }
    case 'minLength':
      return { code: 'schema.empty', path, message: 'must not be empty', hint: 'write a value or remove the field' };
    case 'maxLength': {
      const { limit } = e.params as { limit: number };
      return { code: 'schema.too-long', path, message: `is longer than ${limit} characters`, hint: 'shorten it' };
    }
    case 'uniqueItems': {
      const { i } = e.params as { i: number };
      const item = Array.isArray(e.data) ? e.data[i] : undefined;
      return { code: 'schema.duplicate-item', path: [...path, i], message: `${show(item)} is listed twice`, hint: 'remove the repeated item' };
    }
    default:
      return { code: `schema.${e.keyword}`, path, message: e.message ?? 'does not match the schema', ...(description ? { hint: description } : {}) };
  }
}
