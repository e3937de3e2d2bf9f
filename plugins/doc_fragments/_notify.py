# -*- coding: utf-8 -*-
# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# It documents _notify_spec.notify_option(); keep the two in step (written out as a literal because ansible-test
# reads these strings as literals; tests/unit/plugins/module_utils/test_notify.py compares them).

from __future__ import annotations


class ModuleDocFragment:

    # The notifications of a job
    DOCUMENTATION = r"""
options:
  notify:
    description:
      - Who is told about a run (see docs/NOTIFY.md), for manual and scheduled runs alike. A notifier that fails
        never fails the run; its outcome is in the run record's C(notifications).
      - Each notifier is told on failure by default (I(events)); a C(healthchecks) notifier is pinged at the start and
        at the end of every run (C(/start), then the URL or C(/fail)), whatever I(events) says.
      - Check mode notifies nobody.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name of the notifier in the run record, unique within the job. Letters, digits, C(.), C(_) and C(-),
            up to 64. Default the I(type).
        type: str
      type:
        description:
          - C(apprise) (any Apprise URL through Debian's C(apprise) command, for example ntfy, Slack, Discord,
            Matrix, Teams, C(json://)), C(webhook) (POSTs the run record as JSON), C(email) (SMTP) or
            C(healthchecks) (healthchecks.io-style pings carrying the run's summary).
        type: str
        required: true
        choices: [apprise, webhook, email, healthchecks]
      url:
        description:
          - The Apprise URL, the webhook URL, or the healthchecks ping URL (C(https://hc-ping.com/<uuid>)).
            Required for every type but C(email). A secret (it often holds a token); never logged.
        type: str
      events:
        description:
          - The run results that notify (not used by C(healthchecks)). Default V([failure]).
          - The alias C(on) must be quoted in YAML (C("on":)); unquoted, YAML reads it as the boolean V(true).
        type: list
        aliases: ["on"]
        elements: str
        choices: [failure, warning, success]
      timeout:
        description: Seconds one notification may take, 1..300. Default V(10).
        type: int
      smtp_host:
        description: C(email) - the SMTP server. Required for C(email).
        type: str
      smtp_port:
        description: C(email) - the SMTP port. Default V(465) with I(smtp_ssl), V(587) with I(starttls), else V(25).
        type: int
      starttls:
        description: C(email) - upgrade the connection with STARTTLS before logging in. Default V(false).
        type: bool
      smtp_ssl:
        description:
          - C(email) - TLS from the first byte (SMTPS, port 465), instead of I(starttls). Default V(false).
          - Either checks the server's certificate against the system's CAs. A I(password) needs one of them unless
            I(smtp_host) is V(localhost) or V(127.0.0.1).
        type: bool
        version_added: 0.6.0
      username:
        description: C(email) - the SMTP user name; none logs in without one.
        type: str
      password:
        description: C(email) - the SMTP password. A secret; never logged.
        type: str
      from:
        description: C(email) - the sender address. Default C(sage-open-webui-backup@<host name>).
        type: str
      to:
        description: C(email) - the recipients. Required for C(email).
        type: list
        elements: str
"""
