export * from './registers';
export * from './dp';
export * from './mem-ap';
export * from './cortex-m';
export * from './session';
export * from './faults';
export * from './stop';
export * from './semihosting';
