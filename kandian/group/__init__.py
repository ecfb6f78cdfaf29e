"""The province's side of the group platform (§6.1–§6.5): the codec of its
messages (:mod:`.messages`, §5's REDIRECT_REQ/RES too), its Results as the
core's errors (:mod:`.results`) and the HTTP client (:mod:`.client`) that
``service.py`` plugs into the core as its ``IGroupPlatform``.  What the
province does with it (the address report, the queue of user changes) is the
core's: :mod:`kandian.core.group`.  Being the group platform is
:mod:`kandian.grouprole`.
"""
