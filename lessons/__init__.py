"""The lessons (jupytext percent-format ``NN_topic.py`` notebooks), installed as the package
data ``nanograd_ad.lessons``; ``nanograd-ad lessons --student DIR`` writes them as notebooks.
They are not modules to import: open them in Jupyter, or run them as scripts."""
