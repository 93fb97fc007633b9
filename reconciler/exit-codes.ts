/** Exit codes every fleetspec command keeps to, so scripts can rely on them. */
export const EXIT = {
  /** Success; for `plan`, no changes. */
  OK: 0,
  /** Invalid input (specs, arguments, plan file) or a policy failure. */
  INVALID: 1,
  /** `plan` only: the plan has changes (like `terraform plan -detailed-exitcode`). */
  CHANGES: 2,
  /** Internal error, or a system fleetspec needed could not be reached. */
  ERROR: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
