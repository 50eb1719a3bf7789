export * from './table';
export * from './parser';
export * from './decoder';
export * from './framing';
export * from './elf';
