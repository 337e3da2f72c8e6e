"""The routing engine: pure, typed, no Django and no I/O.

query.py parses Kamailio's query, numbers.py normalizes numbers, table.py holds the compiled
routing table, decide.py turns a query and a table into a decision, rtjson.py writes the
answer. The loader (routing.loader) is the only code that turns database rows into a table.
"""
