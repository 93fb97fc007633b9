/** A state-store problem with a message for the operator and what to do about it. */
export class StateError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}
