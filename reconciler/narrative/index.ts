// The LLM-written account of a plan that pull requests show, escaped, after the exact plan.
export { inventedResources, narrate, narrativeMarkdown, narrativeProblem, narrativePrompt, plainMarkdown, type NarrativeConfig, type NarrativeResult } from './narrate.js';
