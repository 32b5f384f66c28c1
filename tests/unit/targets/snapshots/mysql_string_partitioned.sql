CREATE TABLE `audience_export` (
  `entity_id` varchar(128) NOT NULL COMMENT 'entity ID',
  `tag_string` text COMMENT 'tag of type string (\'quoted\')',
  `tag_long` bigint COMMENT 'tag of type long (\'quoted\')',
  `tag_double` double COMMENT 'tag of type double (\'quoted\')',
  `tag_decimal` decimal(20,6) COMMENT 'tag of type decimal(20,6) (\'quoted\')',
  `tag_boolean` tinyint(1) COMMENT 'tag of type boolean (\'quoted\')',
  `tag_date` date COMMENT 'tag of type date (\'quoted\')',
  `tag_datetime` datetime(6) COMMENT 'tag of type datetime (\'quoted\')',
  `ds` varchar(10) NOT NULL COMMENT 'data timestamp',
  PRIMARY KEY (`entity_id`, `ds`)
) COMMENT='audience export: every type' PARTITION BY LIST COLUMNS(`ds`) (PARTITION `p_init` VALUES IN ('00000000'));
