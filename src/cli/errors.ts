/** Errors the command line reports as one message, without a stack trace. */
export const EXIT_USAGE = 2;

export class CliError extends Error {
  override name = "CliError";
  constructor(message: string, readonly hint = "", readonly status = EXIT_USAGE) {
    super(message);
  }
}
