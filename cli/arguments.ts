import { InvalidArgumentError } from 'commander';

/** A commander option parser for whole numbers of at least `min`, with one wording for every command. */
export const wholeNumber = (min: number) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
  return n;
};
