CREATE TABLE "TAGPORT"."audience_export" (
  "entity_id" NUMBER(19) NOT NULL,
  "tag_string" VARCHAR2(4000),
  "tag_long" NUMBER(19),
  "tag_double" BINARY_DOUBLE,
  "tag_decimal" NUMBER(20,6),
  "tag_boolean" NUMBER(1),
  "tag_date" DATE,
  "tag_datetime" TIMESTAMP,
  "ds" VARCHAR2(10) NOT NULL,
  PRIMARY KEY ("entity_id", "ds")
) PARTITION BY LIST ("ds") AUTOMATIC (PARTITION "p_init" VALUES ('00000000'));
COMMENT ON TABLE "TAGPORT"."audience_export" IS 'audience export: every type';
COMMENT ON COLUMN "TAGPORT"."audience_export"."entity_id" IS 'entity ID';
COMMENT ON COLUMN "TAGPORT"."audience_export"."tag_string" IS 'tag of type string (''quoted'')';
COMMENT ON COLUMN "TAGPORT"."audience_export"."tag_long" IS 'tag of type long (''quoted'')';
COMMENT ON COLUMN "TAGPORT"."audience_export"."tag_double" IS 'tag of type double (''quoted'')';
COMMENT ON COLUMN "TAGPORT"."audience_export"."tag_decimal" IS 'tag of type decimal(20,6) (''quoted'')';
COMMENT ON COLUMN "TAGPORT"."audience_export"."tag_boolean" IS 'tag of type boolean (''quoted'')';
COMMENT ON COLUMN "TAGPORT"."audience_export"."tag_date" IS 'tag of type date (''quoted'')';
COMMENT ON COLUMN "TAGPORT"."audience_export"."tag_datetime" IS 'tag of type datetime (''quoted'')';
COMMENT ON COLUMN "TAGPORT"."audience_export"."ds" IS 'data timestamp';
