/** What every `meshnode` subcommand module exports. */
export interface CommandModule {
  /** Usage text printed by `meshnode help <command>` and after a UsageError. */
  readonly usage: string;
  /** Runs the command; resolves to the process exit code. Throws UsageError for bad input. */
  run(argv: string[]): Promise<number>;
}
