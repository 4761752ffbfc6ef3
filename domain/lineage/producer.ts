/**
 * Who Yardmaster says it is in OpenLineage events, and which versions of the spec it speaks.
 * Every URL here is fixed at build time: events are immutable once recorded, so they must not
 * depend on where or when they are delivered. The facet schema URLs are the `$id`s of the
 * official facet schemas (test/fixtures/openlineage-spec/facets), checked by the Node tests.
 */

/** Yardmaster's own repository: the `producer` of every event is this URL at our version. */
export const YARDMASTER_REPOSITORY = "https://github.com/yardmaster-ci/yardmaster";

/** package.json's `version`; test/node/lineage/producer.test.ts fails when they differ. */
export const YARDMASTER_VERSION = "0.1.0";

/** As OpenLineage's own integrations do: the repository at the tag of the released version. */
export const PRODUCER = `${YARDMASTER_REPOSITORY}/tree/v${YARDMASTER_VERSION}`;

/** The versioned core schema (spec 2-0-2), pointing at the RunEvent definition. */
export const SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

const facet = (version: string, name: string) => `https://openlineage.io/spec/facets/${version}/${name}.json#/$defs/${name}`;

export const FACET_SCHEMA_URLS = {
  parent: facet("1-2-0", "ParentRunFacet"),
  jobType: facet("2-0-4", "JobTypeJobFacet"),
  sourceCodeLocation: facet("1-1-0", "SourceCodeLocationJobFacet"),
  nominalTime: facet("1-0-1", "NominalTimeRunFacet"),
  errorMessage: facet("1-0-1", "ErrorMessageRunFacet"),
  outputStatistics: facet("1-0-2", "OutputStatisticsOutputDatasetFacet"),
  processing_engine: facet("1-1-1", "ProcessingEngineRunFacet"),
  /**
   * Our own run facet, versioned on its own like the official ones: a change to its shape is a
   * new file under docs/openlineage/facets/<version>/, never an edit of a published one.
   */
  yardmaster: `${YARDMASTER_REPOSITORY}/blob/main/docs/openlineage/facets/1-1-0/YardmasterRunFacet.json#/$defs/YardmasterRunFacet`,
} as const;

/** The `_producer` / `_schemaURL` pair every facet starts with. */
export function facetBase(name: keyof typeof FACET_SCHEMA_URLS): { _producer: string; _schemaURL: string } {
  return { _producer: PRODUCER, _schemaURL: FACET_SCHEMA_URLS[name] };
}
