export * from './transport';
export * from './protocol';
export * from './errors';
export * from './probe';
export * from './transfer';
