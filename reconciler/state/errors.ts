/** A state-store problem with a message for the operator and what to do about it. */
export class StateError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    /** The command's exit code: 1 for invalid input (the default), 3 when a system could not be used. */
    readonly exitCode: 1 | 3 = 1,
  ) {
    super(message);
  }
}
