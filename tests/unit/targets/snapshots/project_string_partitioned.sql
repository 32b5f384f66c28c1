CREATE TABLE "export"."audience_export" (
  "entity_id" VARCHAR NOT NULL,
  "tag_string" VARCHAR,
  "tag_long" BIGINT,
  "tag_double" DOUBLE,
  "tag_decimal" DECIMAL(20,6),
  "tag_boolean" BOOLEAN,
  "tag_date" DATE,
  "tag_datetime" TIMESTAMP,
  "ds" VARCHAR NOT NULL,
  PRIMARY KEY ("entity_id", "ds")
);
COMMENT ON TABLE "export"."audience_export" IS 'audience export: every type';
COMMENT ON COLUMN "export"."audience_export"."entity_id" IS 'entity ID';
COMMENT ON COLUMN "export"."audience_export"."tag_string" IS 'tag of type string (''quoted'')';
COMMENT ON COLUMN "export"."audience_export"."tag_long" IS 'tag of type long (''quoted'')';
COMMENT ON COLUMN "export"."audience_export"."tag_double" IS 'tag of type double (''quoted'')';
COMMENT ON COLUMN "export"."audience_export"."tag_decimal" IS 'tag of type decimal(20,6) (''quoted'')';
COMMENT ON COLUMN "export"."audience_export"."tag_boolean" IS 'tag of type boolean (''quoted'')';
COMMENT ON COLUMN "export"."audience_export"."tag_date" IS 'tag of type date (''quoted'')';
COMMENT ON COLUMN "export"."audience_export"."tag_datetime" IS 'tag of type datetime (''quoted'')';
COMMENT ON COLUMN "export"."audience_export"."ds" IS 'data timestamp';
