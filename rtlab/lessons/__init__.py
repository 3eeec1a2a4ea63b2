"""The lessons: what the notebooks run on top of the networking layer.

* :mod:`~rtlab.lessons.scenarios` — seeded event generators (pure), and
  :mod:`~rtlab.lessons.feed` that publishes one at a rate;
* :mod:`~rtlab.lessons.quiz` — the article's live quiz on a WebSocket server;
* :mod:`~rtlab.lessons.experiments` — ``measure``, ``compare``, ``scale``: one stream
  through several techniques, and what it cost;
* :mod:`~rtlab.lessons.plots`, :mod:`~rtlab.lessons.widgets` — figures and live views;
* :mod:`~rtlab.lessons.exercises`, :mod:`~rtlab.lessons.article` — the checkers, and the
  article's claims rebuilt from measurements;
* :mod:`~rtlab.lessons.browser` — the same clients, running in the learner's browser.

Importing this package imports none of them: each is loaded when first used.
"""
