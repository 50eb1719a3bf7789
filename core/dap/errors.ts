/**
 * Errors that name the layer and the cause, so a user reading one line knows whether the USB link,
 * the probe, the SWD wire, the access port or the core said no.
 */
export type DebugLayer = 'usb' | 'probe' | 'swd' | 'ap' | 'core' | 'target';

export class DebugError extends Error {
  constructor(
    readonly layer: DebugLayer,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DebugError';
  }
}

/** The probe vanished (unplugged, USB reset). The session must be reopened. */
export class ProbeDisconnectedError extends DebugError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('usb', `probe disconnected: ${detail}`, options);
    this.name = 'ProbeDisconnectedError';
  }
}

/** No response arrived in time: the link is out of step and must be recovered before reuse. */
export class ProbeTimeoutError extends DebugError {
  constructor(message: string) {
    super('usb', message);
    this.name = 'ProbeTimeoutError';
  }
}

/** An SWD transfer ended with WAIT, FAULT, no ACK, a protocol error or a value mismatch. */
export class SwdTransferError extends DebugError {
  constructor(
    readonly ack: string,
    readonly response: number,
    readonly opLabel: string,
    readonly isRead: boolean,
    detail = '',
  ) {
    super('swd', `SWD ${ack} ack ${isRead ? 'reading' : 'writing'} ${opLabel}${detail ? ` (${detail})` : ''}`);
    this.name = 'SwdTransferError';
  }
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
