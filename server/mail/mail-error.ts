// The mailer's one error type, in a module of its own: services test for it without loading nodemailer.

/**
 * A send that failed. `mayHaveBeenDelivered`: the whole message had reached the server, whose answer never came
 * (the connection dropped, or the deadline passed while waiting): the server may have accepted it, so sending
 * it again may deliver it twice. Otherwise the message was certainly not accepted.
 */
export class MailError extends Error {
  readonly mayHaveBeenDelivered: boolean;
  constructor(message: string, mayHaveBeenDelivered: boolean, cause: unknown) {
    super(message, { cause });
    this.name = 'MailError';
    this.mayHaveBeenDelivered = mayHaveBeenDelivered;
  }
}
