"""Kibana dashboards as code: panels described once (``panels``), rendered to saved objects
(``kibana``) and to Elasticsearch request bodies (``queries``) that the tests run for real."""
