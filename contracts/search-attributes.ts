import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Custom search attributes for listing and filtering batches. The dev server's SQLite visibility store has
// fixed slots per namespace (Keyword 10, Int 3, ...), so this list stays within them.
export const BatchIdKey = defineSearchAttributeKey('BatchId', SearchAttributeType.KEYWORD);
export const BatchStateKey = defineSearchAttributeKey('BatchState', SearchAttributeType.KEYWORD);
export const RowKeyKey = defineSearchAttributeKey('RowKey', SearchAttributeType.KEYWORD);
/** The row's stage (queued, submitting, generating, follow-ups, media, done, failed), kept on the row's own workflow. */
export const RowStageKey = defineSearchAttributeKey('RowStage', SearchAttributeType.KEYWORD);
export const ItemsTotalKey = defineSearchAttributeKey('ItemsTotal', SearchAttributeType.INT);
export const ItemsDoneKey = defineSearchAttributeKey('ItemsDone', SearchAttributeType.INT);
export const ItemsFailedKey = defineSearchAttributeKey('ItemsFailed', SearchAttributeType.INT);

export const ALL_SEARCH_ATTRIBUTES = [BatchIdKey, BatchStateKey, RowKeyKey, RowStageKey, ItemsTotalKey, ItemsDoneKey, ItemsFailedKey];
