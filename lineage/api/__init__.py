"""The GraphQL API: a FastAPI app serving a graphene schema over the lineage graph.

Modules, each holding one thing:

* :mod:`.settings`: limits and access settings of one server;
* :mod:`.errors`: which errors a client sees as they are;
* :mod:`.pagination`: cursors and pages (Relay-style connections);
* :mod:`.limits`: query depth and cost, measured before anything runs;
* :mod:`.context`: one request's store (counting round trips), thread pool and loaders;
* :mod:`.loaders`: DataLoaders that batch node and relation lookups;
* :mod:`.types`: the GraphQL types of the model's node kinds;
* :mod:`.schema`: the root queries;
* :mod:`.mutations`: ``flag``, ``unflag``, ``recomputeFlag``, with roles and audit;
* :mod:`.execute`: parse, validate, limit, run with a deadline, format errors;
* :mod:`.auth`: API tokens (hashed, in the repository) and the audit log;
* :mod:`.saved`: saved named operations (``graphql/*.graphql``) and the SDL;
* :mod:`.local`: running an operation without a server (``lineage query``);
* :mod:`.app`: the HTTP routes (``/graphql``, GraphiQL, ``/health``, ``/queries``).

``docs/api.md`` tells how to use it.
"""
