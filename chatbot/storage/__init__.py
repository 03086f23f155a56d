"""The SQL layer (issue 28): the modules whose job is reading and writing ragbot's Postgres. `db` (the embedded
server, the migrations from the top-level `sql/` folder and the pool), `store` (documents and chunks),
`vector_sets`, `web_store`, `adapter_registry`, `conversations`, `monitoring`, `feedback_export` and `backup`. The
queue's and the replicas' shared tables live with their owners (`chatbot.queue`, `chatbot.cluster`); the retriever's
query stays in `chatbot.retriever`, the component that ranks."""
