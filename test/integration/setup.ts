import { DefaultLogger, Runtime } from '@temporalio/worker';

// Real servers: a cold workflow bundle and a 20 MB upload take seconds, not milliseconds.
jest.setTimeout(120_000);
// Worker state changes at INFO would bury the test report; warnings and errors still show.
Runtime.install({ logger: new DefaultLogger('WARN') });
