CREATE TABLE "export"."audience_export" (
  "entity_id" varchar(128) NOT NULL,
  "tag_string" text,
  "tag_long" bigint,
  "tag_double" double precision,
  "tag_decimal" numeric(20,6),
  "tag_boolean" boolean,
  "tag_date" date,
  "tag_datetime" timestamp,
  "ds" varchar(10) NOT NULL,
  PRIMARY KEY ("entity_id", "ds")
) DISTRIBUTED BY ("entity_id");
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
