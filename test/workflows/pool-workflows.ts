// The workflow bundle of the account pool's tests: the project's workflows and the test-only lease holder.
export * from '../../workflows';
export { poolHolderWorkflow } from './pool-holder-workflow';
