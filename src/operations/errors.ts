// Argument errors of the operations API: exact messages naming the bad value.

import { TelemetryError, describeValue } from '../recorder/errors.js';

export function invalidArgument(name: string, expected: string, value: unknown): TelemetryError {
  return new TelemetryError('INVALID_OPTION', `looptrace: ${name} must be ${expected}, got ${describeValue(value)}`);
}
