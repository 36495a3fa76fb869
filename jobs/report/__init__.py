"""Case reports: one self-contained HTML page per account, for a reviewer.

A finished run (a flag job's ``--out`` folder) is opened with
:func:`ringfence.jobs.runs.read_run`; its ``result()`` has the tables the run
wrote and the graph rebuilt for the neighbourhood picture.
:func:`write_case_report` writes the page (:mod:`ringfence.jobs.report.case`,
rendered from the Jinja2 templates in ``templates/``)::

    from ringfence.jobs.runs import read_run
    from ringfence.jobs.report import write_case_report
    write_case_report(read_run("demo/flags").result(), "acct_0001750", "case.html")
"""

from ringfence.jobs.report.case import case_report_html, write_case_report
from ringfence.jobs.report.errors import ReportError

__all__ = ["ReportError", "case_report_html", "write_case_report"]
