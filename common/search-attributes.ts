/**
 * The custom search attributes every runbook sets, so that the Temporal UI's list shows and filters "which host"
 * and "waiting for whom" (e.g. `RunbookHost = "dom0-a"`, `RunbookWaitingFor = "approve"`). Shared by workflow code
 * (the keys) and workers (worker/search-attributes.ts registers them before polling).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RUNBOOK = defineSearchAttributeKey('Runbook', SearchAttributeType.KEYWORD);
/** The hosts the run changes (several for a rolling reboot). */
export const RUNBOOK_HOSTS = defineSearchAttributeKey('RunbookHosts', SearchAttributeType.KEYWORD_LIST);
export const RUNBOOK_CLUSTER = defineSearchAttributeKey('RunbookCluster', SearchAttributeType.KEYWORD);
/** `<Update> by <who>` while the run waits for a person, e.g. `approve by a board member`; unset otherwise. */
export const RUNBOOK_WAITING_FOR = defineSearchAttributeKey('RunbookWaitingFor', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [RUNBOOK, RUNBOOK_HOSTS, RUNBOOK_CLUSTER, RUNBOOK_WAITING_FOR] as const;

/** `temporal server start-dev` flags that create them with the server (a worker would otherwise add them). */
export function devServerSearchAttributeFlags(): string[] {
  return SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${key.type === 'KEYWORD_LIST' ? 'KeywordList' : 'Keyword'}`]);
}
