import { Context } from '@temporalio/activity';
import { findClosedRows, type ClosedRow, type RowToCheck } from '../client/closed-rows';

/** The batch's check of rows carried over from earlier runs, with the worker's own client. */
export function createRowLivenessActivities() {
  return {
    async findClosedRows(rows: RowToCheck[]): Promise<ClosedRow[]> {
      return findClosedRows(Context.current().client, rows);
    },
  };
}
