/**
 * A small option parser for the CLI: `--name value`, `--name=value`,
 * boolean flags, repeatable options kept in the order given, and `--` to end
 * the options. node:util parseArgs would do, but importing it costs about
 * 13 ms of start-up (see src/util/path.ts).
 */

export interface OptionSpec {
  /** "string" takes a value; "boolean" does not. */
  type: "string" | "boolean";
  multiple?: boolean;
}

export interface ParsedOption {
  name: string;
  value: string | true;
}

export interface ParsedArgs {
  /** Every option in the order it appeared. */
  options: ParsedOption[];
  positionals: string[];
  /** What followed `--`, when present. */
  rest?: string[];
}

export class ArgsError extends Error {
  override name = "ArgsError";
}

export function parseOptions(
  args: string[],
  spec: Record<string, OptionSpec>,
  { stopAtPositional = false } = {},
): ParsedArgs {
  const options: ParsedOption[] = [];
  const positionals: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return { options, positionals, rest: args.slice(i + 1) };
    if (!arg.startsWith("--") || arg === "-") {
      if (arg.startsWith("-") && arg !== "-") throw new ArgsError(`unknown option "${arg}"`);
      positionals.push(arg);
      if (stopAtPositional) return { options, positionals: [...positionals, ...args.slice(i + 1)] };
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const option = spec[name];
    if (!option) throw new ArgsError(`unknown option "--${name}"`);
    if (seen.has(name) && !option.multiple) throw new ArgsError(`--${name} was given twice`);
    seen.add(name);
    if (option.type === "boolean") {
      if (eq >= 0) throw new ArgsError(`--${name} takes no value`);
      options.push({ name, value: true });
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else value = args[++i];
    if (value === undefined) throw new ArgsError(`--${name} needs a value`);
    options.push({ name, value });
  }
  return { options, positionals };
}

/** The last value of a string option, or undefined. */
export function stringOption(parsed: ParsedArgs, name: string): string | undefined {
  const found = parsed.options.filter((o) => o.name === name).at(-1);
  return typeof found?.value === "string" ? found.value : undefined;
}

/** Every value of a repeatable string option, in order. */
export function stringOptions(parsed: ParsedArgs, name: string): string[] {
  return parsed.options.filter((o) => o.name === name).map((o) => String(o.value));
}

export function flag(parsed: ParsedArgs, name: string): boolean {
  return parsed.options.some((o) => o.name === name);
}
