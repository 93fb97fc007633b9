// The LLM-written account of a plan that pull requests show above the exact plan.
export { inventedResources, narrate, narrativePrompt, type NarrativeConfig, type NarrativeResult } from './narrate.js';
