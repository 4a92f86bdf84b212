"""The release board: what release owners see of published versions, budgets, pending approvals and retention.

`data` gathers from the publish location (through the catalog), retention's records, the specs and the run
folders; `budgets` reads the ledger; `pages` renders server-side HTML. None imports Airflow: the Airflow plugin
(`plugins/release_board.py`) decides who the user is and what they may see, queries Airflow's own tables, and
calls into these modules.
"""
