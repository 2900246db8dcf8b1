#!/bin/sh
# Namespace with a retention long enough for a redrive next week, and the batch search attributes (idempotent).
set -eu
temporal operator namespace describe -n "$TEMPORAL_NAMESPACE" >/dev/null 2>&1 \
  || temporal operator namespace create -n "$TEMPORAL_NAMESPACE" --retention "$RETENTION"
temporal operator namespace update -n "$TEMPORAL_NAMESPACE" --retention "$RETENTION"
for attr in BatchId=Keyword BatchState=Keyword RowKey=Keyword ItemsTotal=Int ItemsDone=Int ItemsFailed=Int; do
  temporal operator search-attribute create -n "$TEMPORAL_NAMESPACE" --name "${attr%%=*}" --type "${attr##*=}" || true
done
