/**
 * A worker registers our search attributes (common/search-attributes.ts) before it polls: a workflow that sets an
 * unregistered attribute fails its task over and over, so a worker that cannot register them refuses to start.
 */
import proto from '@temporalio/proto'; // CommonJS: no named exports under Node's ESM loader
import { SEARCH_ATTRIBUTES } from '../common/search-attributes.js';

const { IndexedValueType } = proto.temporal.api.enums.v1;
const INDEXED_VALUE_TYPE = { KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST };

const GRPC_UNIMPLEMENTED = 12;

type OperatorService = Pick<proto.temporal.api.operatorservice.v1.OperatorService, 'listSearchAttributes' | 'addSearchAttributes'>;

/** Registers our search attributes in `namespace` when they are missing (idempotent; the dev server and a cluster alike). */
export async function ensureSearchAttributes(operator: OperatorService, namespace: string): Promise<void> {
  // Temporal's time-skipping test server cannot list them (UNIMPLEMENTED) but takes them: register all there.
  const customAttributes = await operator.listSearchAttributes({ namespace }).then(
    (listed) => listed.customAttributes,
    (error: { code?: number }) => { if (error.code === GRPC_UNIMPLEMENTED) return undefined; throw error; },
  );
  const missing = SEARCH_ATTRIBUTES.filter((key) => !(customAttributes && key.name in customAttributes));
  if (!missing.length) return;
  try {
    await operator.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type]])) });
  } catch (error) {
    // Another worker registered them at the same moment: fine. Anything else (no permission on a hosted namespace) says what to do.
    if (/already exists/i.test((error as Error).message)) return;
    throw new Error(`cannot register the runbooks' search attributes ${missing.map((k) => `${k.name} (${k.type})`).join(', ')} in namespace ${namespace}: ${(error as Error).message}. Register them once with: ${missing.map((k) => `temporal operator search-attribute create --namespace ${namespace} --name ${k.name} --type ${k.type === 'KEYWORD_LIST' ? 'KeywordList' : 'Keyword'}`).join('; ')}`);
  }
}
