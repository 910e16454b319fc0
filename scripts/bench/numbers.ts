// Small arithmetic the bench suites share.

/** The middle value (the upper one of an even count). */
export const median = (values: number[]): number => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
