"""Case reports: one self-contained HTML page per account, for a reviewer.

From a finished run (a flag job's ``--out`` directory), :func:`load_run`
reads the tables the run wrote and rebuilds the account graph for the
neighbourhood picture; :func:`write_case_report` writes the page
(:mod:`ringfence.jobs.report.case`, rendered from the Jinja2 templates in
``templates/``)::

    from ringfence.jobs.report import load_run, write_case_report
    result = load_run("demo/flags")
    write_case_report(result, "acct_0001750", "case.html")
"""

from ringfence.jobs.report.case import case_report_html, write_case_report
from ringfence.jobs.report.errors import ReportError
from ringfence.jobs.report.loading import load_run

__all__ = ["ReportError", "case_report_html", "write_case_report", "load_run"]
