// The fuzz worker thread's entry: TypeScript through tsx's require hook (as bin/dapdeck.cjs does).
require('tsx/cjs');
require('./worker-main.ts');
