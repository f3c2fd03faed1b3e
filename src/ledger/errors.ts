/** Base of every ledger error: a one-line `shortMessage`, details in `message`, the `cause` kept. */
export class LedgerError extends Error {
  override name = 'LedgerError';
  readonly shortMessage: string;

  constructor(shortMessage: string, options: { details?: string; cause?: unknown } = {}) {
    super(options.details ? `${shortMessage}\n\n${options.details}` : shortMessage, {
      cause: options.cause,
    });
    this.shortMessage = shortMessage;
  }
}

/** The anvil child process did not start or did not answer RPC in time. */
export class AnvilStartError extends LedgerError {
  override name = 'AnvilStartError';
}

/** A contract deployment or set-up transaction failed. */
export class DeployError extends LedgerError {
  override name = 'DeployError';
}

/** Anchoring failed for a reason that may pass (node unreachable, dropped or reverted transaction). */
export class AnchorRetryableError extends LedgerError {
  override name = 'AnchorRetryableError';
}

/** Anchoring can never succeed without an operator's action (no anchorer role, batch id taken). */
export class AnchorUnrecoverableError extends LedgerError {
  override name = 'AnchorUnrecoverableError';
}
