BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0002');
CREATE TABLE batch_items (
	id INTEGER NOT NULL, 
	batch_id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	item_id INTEGER NOT NULL, 
	rank INTEGER NOT NULL, 
	score FLOAT, 
	reason TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	suggestion TEXT, 
	show_suggestion BOOLEAN NOT NULL, 
	CONSTRAINT pk_batch_items PRIMARY KEY (id), 
	CONSTRAINT fk_batch_items_batch_id_batches FOREIGN KEY(batch_id) REFERENCES batches (id), 
	CONSTRAINT fk_batch_items_item_id_items FOREIGN KEY(item_id) REFERENCES items (id), 
	CONSTRAINT fk_batch_items_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id), 
	CONSTRAINT uq_batch_items_batch_item UNIQUE (batch_id, item_id)
);
CREATE TABLE batches (
	id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	strategy VARCHAR(100) NOT NULL, 
	params TEXT NOT NULL, 
	labeler_id INTEGER, 
	created_at VARCHAR(32) NOT NULL, 
	CONSTRAINT pk_batches PRIMARY KEY (id), 
	CONSTRAINT fk_batches_labeler_id_labelers FOREIGN KEY(labeler_id) REFERENCES labelers (id), 
	CONSTRAINT fk_batches_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id)
);
CREATE TABLE events (
	id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	seq BIGINT NOT NULL, 
	type VARCHAR(16) NOT NULL, 
	item_id INTEGER NOT NULL, 
	labeler_id INTEGER, 
	label TEXT, 
	schema_version_id INTEGER NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	time_spent_ms BIGINT, 
	suggestion TEXT, 
	calibration_score FLOAT, 
	source VARCHAR(16) NOT NULL, 
	idempotency_key VARCHAR(128), 
	corrects_event_id INTEGER, 
	payload TEXT, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	CONSTRAINT pk_events PRIMARY KEY (id), 
	CONSTRAINT fk_events_corrects_event_id_events FOREIGN KEY(corrects_event_id) REFERENCES events (id), 
	CONSTRAINT fk_events_item_id_items FOREIGN KEY(item_id) REFERENCES items (id), 
	CONSTRAINT fk_events_labeler_id_labelers FOREIGN KEY(labeler_id) REFERENCES labelers (id), 
	CONSTRAINT fk_events_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id), 
	CONSTRAINT fk_events_schema_version_id_schema_versions FOREIGN KEY(schema_version_id) REFERENCES schema_versions (id), 
	CONSTRAINT uq_events_project_idempotency UNIQUE (project_id, idempotency_key), 
	CONSTRAINT uq_events_project_seq UNIQUE (project_id, seq)
);
INSERT INTO "events" VALUES(1,1,1,'gold',1,NULL,'"spam"',1,'2026-12-07T21:11:13.343201Z',NULL,NULL,NULL,'import','gold:schema:d413501adc006e73e431688c458b2d956457887e418b50f8d5f23ae47b6179e5',NULL,'{"edge_case":false,"example_id":"ex-022e3f610f9bd125","from":"schema","rationale":"Prize bait."}','0000000000000000000000000000000000000000000000000000000000000000','4810b24306cc7826bdd49fde85e93a4db85725f8ebe2892db3e8fab54373e006');
INSERT INTO "events" VALUES(2,1,2,'gold',2,NULL,'"ham"',1,'2026-12-07T21:11:13.343201Z',NULL,NULL,NULL,'import','gold:schema:1e77c037a9f8a07dd27bd42054f7f0d8ead79768b5c67973b5fc8a162fa457f0',NULL,'{"edge_case":false,"example_id":"ex-d7f0346086c02333","from":"schema","rationale":"Personal."}','4810b24306cc7826bdd49fde85e93a4db85725f8ebe2892db3e8fab54373e006','4b4218c2e25222d2e63388b7e44e7fe795504c2250c3592a3eb652f850e2f9b8');
INSERT INTO "events" VALUES(3,1,3,'answer',3,1,'"spam"',1,'2026-12-07T21:11:18.956076Z',NULL,NULL,NULL,'import','import:answer:ecb4746ae106a3e2c18664a7a091e8869833119a4091791221bae9081d8e29f0:1',NULL,NULL,'4b4218c2e25222d2e63388b7e44e7fe795504c2250c3592a3eb652f850e2f9b8','56ec2440f363359b7d169adc1eee4602013a8d0c21a02854f21c479eb14e67d5');
INSERT INTO "events" VALUES(4,1,4,'answer',3,2,'"spam"',1,'2026-12-07T21:11:18.956076Z',NULL,NULL,NULL,'import','import:answer:00e95f151a022a56cf3d6d666342dd709d8410bd4271da845a5b8891fa9991ad:1',NULL,NULL,'56ec2440f363359b7d169adc1eee4602013a8d0c21a02854f21c479eb14e67d5','e980acc4483f2e36f45bb6454a7f6859611580874fbe1b8049880ec26e1b22b7');
INSERT INTO "events" VALUES(5,1,5,'answer',3,3,'"ham"',1,'2026-12-07T21:11:18.956076Z',NULL,NULL,NULL,'import','import:answer:d6633d422693191cefcca45ab4101c7c4a75f7947e0009add04e52740bc21694:1',NULL,NULL,'e980acc4483f2e36f45bb6454a7f6859611580874fbe1b8049880ec26e1b22b7','3ff8b33ff801f1a7eceb98ce3a3a6d08bdaa3d6587fe6c5112d29b8701705e6b');
INSERT INTO "events" VALUES(6,1,6,'answer',4,1,'"ham"',1,'2026-12-07T21:11:18.956076Z',NULL,NULL,NULL,'import','import:answer:655d23756a4610ef4de4f4935b6676439fab321e6e5ce473695f4ba58a358d61:1',NULL,NULL,'3ff8b33ff801f1a7eceb98ce3a3a6d08bdaa3d6587fe6c5112d29b8701705e6b','7e204d43f3980366dcf5f24f35f9a6e8d7b524416ed94404d34acb510421ee71');
INSERT INTO "events" VALUES(7,1,7,'answer',4,2,'"ham"',1,'2026-12-07T21:11:18.956076Z',NULL,NULL,NULL,'import','import:answer:daa522a8eaf73bf4b0d7fae9e305e3a4946ddccdf34065b718d6319f4a7e208b:1',NULL,NULL,'7e204d43f3980366dcf5f24f35f9a6e8d7b524416ed94404d34acb510421ee71','b8d41e6453c196edb6b6e9a7b009a44656be737ae8a931986be4ac813c7e5b7a');
INSERT INTO "events" VALUES(8,1,8,'answer',4,3,'"ham"',1,'2026-12-07T21:11:18.956076Z',NULL,NULL,NULL,'import','import:answer:263a2fca4e348f794e4c14cad51350bb4fafbf24b7262c41d409ca740b82d1b3:1',NULL,NULL,'b8d41e6453c196edb6b6e9a7b009a44656be737ae8a931986be4ac813c7e5b7a','257a41137e6d666e80640e93b88bc425d7d9e6b401ae5e2603ebb6fa38030c2a');
INSERT INTO "events" VALUES(9,1,9,'answer',5,1,'"spam"',1,'2026-12-07T21:11:18.956076Z',NULL,NULL,NULL,'import','import:answer:813a0c24711720abb8f951a321511b6cb7930cc4d7fc2f9817ed3cc1711dd300:1',NULL,NULL,'257a41137e6d666e80640e93b88bc425d7d9e6b401ae5e2603ebb6fa38030c2a','9a8b679693c132c46a8ea76d5dc0dd3b3234497067e03bae700801195ecefc45');
INSERT INTO "events" VALUES(10,1,10,'answer',5,2,'"ham"',1,'2026-12-07T21:11:18.956076Z',NULL,NULL,NULL,'import','import:answer:adecad708f8116396c59c92df903ccc89ae9a1b16e4aaaa543cdfe869116e5e4:1',NULL,NULL,'9a8b679693c132c46a8ea76d5dc0dd3b3234497067e03bae700801195ecefc45','1e4f82eee183e178cd8b46196c2e987ea8d3fa384407eb6fd7282122446480c1');
INSERT INTO "events" VALUES(11,1,11,'answer',5,3,'"spam"',1,'2026-12-07T21:11:18.956076Z',NULL,NULL,NULL,'import','import:answer:7412b6c15e44f37442dbe609c053284d1be73ca37967ea65cf58cea16075eedc:1',NULL,NULL,'1e4f82eee183e178cd8b46196c2e987ea8d3fa384407eb6fd7282122446480c1','1214c55a7c9cc0a0ea5e101672e9a6399aa614cb725cf3b32cc0a80a34212ae4');
INSERT INTO "events" VALUES(12,1,12,'gold',3,NULL,'"spam"',1,'2026-12-07T21:11:23.978967Z',NULL,NULL,NULL,'import',NULL,NULL,NULL,'1214c55a7c9cc0a0ea5e101672e9a6399aa614cb725cf3b32cc0a80a34212ae4','0e5ef764dcf7cd399ca3eef6d02da2dbf33b0707528653c74e216b7cef688e98');
INSERT INTO "events" VALUES(13,1,13,'adjudication',3,NULL,'"spam"',1,'2026-12-07T21:11:29.112869Z',NULL,NULL,NULL,'aggregate','adjudication:cb1c456e0f37e6c7563d930fe070d6f69290c42ded9a4a5c9299aa35aee80c21:3',NULL,'{"answers":3,"clamp_gold":false,"confidence":0.666667,"method":"majority_vote.v1","params":{"aggregator":"majority_vote.v1"},"run":"cb1c456e0f37e6c7563d930fe070d6f69290c42ded9a4a5c9299aa35aee80c21"}','0e5ef764dcf7cd399ca3eef6d02da2dbf33b0707528653c74e216b7cef688e98','574e254c736ded0e3cdc70fc2edf15b7e8ce16f2c60296756892b07034a6298f');
INSERT INTO "events" VALUES(14,1,14,'adjudication',4,NULL,'"ham"',1,'2026-12-07T21:11:29.112869Z',NULL,NULL,NULL,'aggregate','adjudication:cb1c456e0f37e6c7563d930fe070d6f69290c42ded9a4a5c9299aa35aee80c21:4',NULL,'{"answers":3,"clamp_gold":false,"confidence":1.0,"method":"majority_vote.v1","params":{"aggregator":"majority_vote.v1"},"run":"cb1c456e0f37e6c7563d930fe070d6f69290c42ded9a4a5c9299aa35aee80c21"}','574e254c736ded0e3cdc70fc2edf15b7e8ce16f2c60296756892b07034a6298f','268f13d11a8fb204b56d60fe70946e91852a680f6ccb677ae8ede7364d9db475');
INSERT INTO "events" VALUES(15,1,15,'adjudication',5,NULL,'"spam"',1,'2026-12-07T21:11:29.112869Z',NULL,NULL,NULL,'aggregate','adjudication:cb1c456e0f37e6c7563d930fe070d6f69290c42ded9a4a5c9299aa35aee80c21:5',NULL,'{"answers":3,"clamp_gold":false,"confidence":0.666667,"method":"majority_vote.v1","params":{"aggregator":"majority_vote.v1"},"run":"cb1c456e0f37e6c7563d930fe070d6f69290c42ded9a4a5c9299aa35aee80c21"}','268f13d11a8fb204b56d60fe70946e91852a680f6ccb677ae8ede7364d9db475','7ad662dd9b2dabbbe84367bb5031b38527b49e0aba7b7e6cc4225500cb1a38d3');
CREATE TABLE gold (
	item_id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	label TEXT NOT NULL, 
	is_calibration BOOLEAN NOT NULL, 
	event_id INTEGER NOT NULL, 
	CONSTRAINT pk_gold PRIMARY KEY (item_id), 
	CONSTRAINT fk_gold_event_id_events FOREIGN KEY(event_id) REFERENCES events (id), 
	CONSTRAINT fk_gold_item_id_items FOREIGN KEY(item_id) REFERENCES items (id), 
	CONSTRAINT fk_gold_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id)
);
INSERT INTO "gold" VALUES(1,1,'"spam"',1,1);
INSERT INTO "gold" VALUES(2,1,'"ham"',1,2);
INSERT INTO "gold" VALUES(3,1,'"spam"',0,12);
CREATE TABLE item_state (
	item_id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	label TEXT, 
	confidence FLOAT, 
	event_id INTEGER NOT NULL, 
	CONSTRAINT pk_item_state PRIMARY KEY (item_id), 
	CONSTRAINT fk_item_state_event_id_events FOREIGN KEY(event_id) REFERENCES events (id), 
	CONSTRAINT fk_item_state_item_id_items FOREIGN KEY(item_id) REFERENCES items (id), 
	CONSTRAINT fk_item_state_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id)
);
INSERT INTO "item_state" VALUES(3,1,'"spam"',0.666667,13);
INSERT INTO "item_state" VALUES(4,1,'"ham"',1.0,14);
INSERT INTO "item_state" VALUES(5,1,'"spam"',0.666667,15);
CREATE TABLE items (
	id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	"key" VARCHAR(300) NOT NULL, 
	external_id VARCHAR(300), 
	content_hash VARCHAR(64) NOT NULL, 
	data TEXT NOT NULL, 
	meta TEXT NOT NULL, 
	media TEXT, 
	source TEXT, 
	created_at VARCHAR(32) NOT NULL, 
	CONSTRAINT pk_items PRIMARY KEY (id), 
	CONSTRAINT fk_items_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id), 
	CONSTRAINT uq_items_project_key UNIQUE (project_id, "key")
);
INSERT INTO "items" VALUES(1,1,'sha256:aa63f489f30e541f44e42957cf4ef0a9513fcac93b1fdbb78bb16bdaa7068ccc',NULL,'aa63f489f30e541f44e42957cf4ef0a9513fcac93b1fdbb78bb16bdaa7068ccc','{"text":"WIN a FREE prize, reply YES"}','{"calibration":true,"example_id":"ex-022e3f610f9bd125"}',NULL,'schema 1.0','2026-12-07T21:11:13.342324Z');
INSERT INTO "items" VALUES(2,1,'sha256:473f54b4083d4374b8f8d974f7acc17a86ebc889d1d33bbc6f2e3513e74f9b55',NULL,'473f54b4083d4374b8f8d974f7acc17a86ebc889d1d33bbc6f2e3513e74f9b55','{"text":"see you at 6"}','{"calibration":true,"example_id":"ex-d7f0346086c02333"}',NULL,'schema 1.0','2026-12-07T21:11:13.342324Z');
INSERT INTO "items" VALUES(3,1,'t1','t1','edaaf8ff6b41583552c748e851bd31ac976babbad3204930f5e1dbb026f08523','{}','{}',NULL,'answers.csv','2026-12-07T21:11:18.940482Z');
INSERT INTO "items" VALUES(4,1,'t2','t2','638b78fb577419a4ef6b59790faee264c5380a4aaab960315aad1a2745df7c64','{}','{}',NULL,'answers.csv','2026-12-07T21:11:18.940482Z');
INSERT INTO "items" VALUES(5,1,'t3','t3','f9ff376325bd58fefd368bedaa3d813074bd13de613f25cb3bb786434b714bc6','{}','{}',NULL,'answers.csv','2026-12-07T21:11:18.940482Z');
CREATE TABLE labelers (
	id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	name VARCHAR(300) NOT NULL, 
	version VARCHAR(100) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	CONSTRAINT pk_labelers PRIMARY KEY (id), 
	CONSTRAINT fk_labelers_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id), 
	CONSTRAINT uq_labelers_identity UNIQUE (project_id, kind, name, version)
);
INSERT INTO "labelers" VALUES(1,1,'human','ann','1','2026-12-07T21:11:18.941852Z');
INSERT INTO "labelers" VALUES(2,1,'human','bob','1','2026-12-07T21:11:18.941852Z');
INSERT INTO "labelers" VALUES(3,1,'human','cat','1','2026-12-07T21:11:18.941852Z');
CREATE TABLE projects (
	id INTEGER NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	schema_version_id INTEGER, 
	event_seq BIGINT NOT NULL, 
	head_hash VARCHAR(64) NOT NULL, 
	CONSTRAINT pk_projects PRIMARY KEY (id), 
	CONSTRAINT uq_projects_name UNIQUE (name)
);
INSERT INTO "projects" VALUES(1,'legacy','2026-12-07T21:11:13.063993Z',1,15,'7ad662dd9b2dabbbe84367bb5031b38527b49e0aba7b7e6cc4225500cb1a38d3');
CREATE TABLE routing_policies (
	project_id INTEGER NOT NULL, 
	target_precision FLOAT NOT NULL, 
	audit_fraction FLOAT NOT NULL, 
	show_suggestion BOOLEAN NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	CONSTRAINT pk_routing_policies PRIMARY KEY (project_id), 
	CONSTRAINT fk_routing_policies_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id)
);
CREATE TABLE schema_versions (
	id INTEGER NOT NULL, 
	project_id INTEGER NOT NULL, 
	version VARCHAR(100) NOT NULL, 
	content_hash VARCHAR(64) NOT NULL, 
	is_open BOOLEAN NOT NULL, 
	body TEXT NOT NULL, 
	source TEXT, 
	created_at VARCHAR(32) NOT NULL, 
	CONSTRAINT pk_schema_versions PRIMARY KEY (id), 
	CONSTRAINT fk_schema_versions_project_id_projects FOREIGN KEY(project_id) REFERENCES projects (id), 
	CONSTRAINT uq_schema_versions_project_hash UNIQUE (project_id, content_hash)
);
INSERT INTO "schema_versions" VALUES(1,1,'1.0','fa2809a1b605505e63df0ab84b4ee21afb37c1b73421dae8f9e58d60018fa390',0,'{"examples":[{"input":{"text":"WIN a FREE prize, reply YES"},"label":"spam","rationale":"Prize bait."},{"input":{"text":"see you at 6"},"label":"ham","rationale":"Personal."}],"inputs":[{"name":"text"}],"instructions":"Label each message.","labels":[{"description":"Unsolicited or fraudulent.","name":"spam"},{"description":"Anything else.","name":"ham"}],"name":"spam","task":"single_label","version":"1.0"}','schema.yaml','2026-12-07T21:11:13.104192Z');
CREATE INDEX ix_items_project_content ON items (project_id, content_hash);
CREATE INDEX ix_events_item ON events (item_id);
CREATE INDEX ix_gold_project ON gold (project_id);
CREATE INDEX ix_item_state_project ON item_state (project_id);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE rejected'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE rejected'); END;
CREATE INDEX ix_batches_project ON batches (project_id);
CREATE INDEX ix_batch_items_item ON batch_items (item_id);
CREATE INDEX ix_batch_items_project_status ON batch_items (project_id, status);
COMMIT;
