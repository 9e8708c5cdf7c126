"""The review console: a browser queue where reviewers approve or reject what the detectors
sent to review, and follow each request to its removal.

``auth``          login with the API token, signed session cookies, CSRF tokens
``review_items``  what a page shows of an item (pure: highlights, outlook, filters)
``pages``         the queue and login pages (server-rendered HTML)
``request_page``  one request's history, and the platform scoreboard
``views``         the routes under /console on the worker's web port
"""
