/** Collects positional parameters while SQL text is assembled. */
export class Sql {
  readonly values: unknown[] = [];
  private aliases = 0;

  /** A placeholder bound to `value`. */
  p(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  alias(prefix: string): string {
    this.aliases += 1;
    return `${prefix}${this.aliases}`;
  }
}
