"""The core: what a host should switch to, decided by pure code (no pyinfra, no global state,
no host, no AWS): ``app.deploy`` and ``app.rotate`` take the settings (``AppConfig``), the
fetched variables and what the host has (``HostState``) and return the plan (``AppPlan``),
compared by equality in its tests; ``apply`` models what carrying a plan out does to a
``HostState``, so that a plan applied gives a state whose plan is nothing.

Its drivers carry plans out: the push driver (``tasks/``, ``ssmenv.facts``,
``ssmenv.operations``: pyinfra over SSH, from a control machine), and a program on each host
(the pull driver). Its steps, one module each: ``release``, ``image``, ``host`` (packages and
provisioning), ``environment`` (env file, credentials, manifest), ``service`` (units, restarts,
the ``Activation``), and ``state`` (what the state read asks).
"""
