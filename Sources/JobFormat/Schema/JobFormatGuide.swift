/// docs/job-format.md, as the model that drafts a job file reads it (`wfctl draft`). Written by
/// scripts/embed-format-guide.py; a test holds it equal to the file.
public enum JobFormatGuide {
    public static let text = #"""
        # Job file format

        A job is one file in `jobs.d/` (`/etc/wfd/jobs.d` under systemd), YAML or JSON. The job id is the
        file name without its extension and must match `[a-z0-9][a-z0-9._-]{0,63}` (`nightly-backup.yaml`
        is job `nightly-backup`). `wfctl schema` prints the JSON Schema (draft 2020-12) of this format;
        `wfctl validate [PATH…]` checks files exactly as wfd loads them and reports every problem at once,
        as `file:line:column: message (hint)`.

        Every key below is in effect.

        ## Job keys

        | key | type | default | meaning |
        | --- | --- | --- | --- |
        | `description` | string | — | What the job is for. |
        | `schedule` | cron expression or calendar event, or a list | — | When the job fires; every entry fires it. Leave it out for a job that only runs by hand. |
        | `timezone` | IANA zone name | the host's | The zone the schedule is read in, like `Europe/Rome`. |
        | `catchup` | `none` \| `latest` \| `all` | `latest` | Fire times missed while wfd was down or jumped over by the wall clock: `latest` runs the newest once, `none` skips them, `all` replays them in order (at most 100). |
        | `jitter` | duration | — | A random delay in [0, jitter) added to each fire time's start. |
        | `concurrency` | `skip` \| `queue` \| `cancel-previous` | `skip` | What a fire time does while a run of the job is active: skip it, queue it (at most 10 waiting), or cancel the active run and start once it has stopped. Every decision is logged and shown by `wfctl status`. |
        | `timeout` | duration | — | The limit for a whole run: its running steps are stopped (TERM, grace, KILL), the rest skipped, and the run ends `timed_out`. |
        | `budget` | `{ usd, tokens }` | — | Hard caps over the LLM steps of one run: `usd` (> 0) and `tokens` (≥ 1, input plus output). Before each model call wfd adds the call's worst case (its input estimated at 4 characters a token, plus `max_tokens` of output, at the model's price) to what the run has spent; a call that could pass a cap is not made. |
        | `daily_budget` | `{ usd, tokens }` | — | The same caps over all runs of the job in one UTC day. |
        | `on_budget` | `fail` \| `approve` | `fail` | What a call that could pass a budget does: `fail` ends the step as `budget_exceeded` (not retried); `approve` makes it wait for a person (`wfctl approve RUN STEP` lets that call be made, `wfctl reject` fails it). |
        | `prices` | map model → `{ input, output }` | — | US dollars per million tokens, over the host's prices file (`/etc/wfd/prices.yaml`, or `--prices`). A model with no price costs nothing known: with a `usd` budget its calls are refused. |
        | `params` | map of name → `{ default, required, description }` | — | Parameters of a run, given with `wfctl run JOB --param name=value` and seen by steps as `WF_PARAM_<NAME>` (and `${{ params.name }}`): `default` is the value when none is given (scheduled runs take the defaults), `required` (true) means a run must be given one (so it cannot have a default; a fire time of such a job is skipped, with that reason). An unknown name is refused. |
        | `env` | map NAME → value | — | Environment variables for every step. |
        | `secrets` | list of names | — | systemd credentials (`LoadCredential=`) the job may use, read from `$CREDENTIALS_DIRECTORY/<name>` when a step needs them: in `http` headers (`${{ secrets.name }}`), as an LLM step's `api_key_secret`, and in the environment of `run` steps that list them. Their values never reach a record, a log, the journal or `wfctl`: wherever a step's output, error or log would carry one, it reads `[secret]`. |
        | `enabled` | boolean | `true` | `false` keeps the job loaded and validated but never scheduled. |
        | `retention` | `{ keep_runs, keep_days }` | wfd's `--keep-runs` (1000), `--keep-days` (30) | How much run history to keep: at most `keep_runs` runs, none older than `keep_days` days. wfd deletes older runs in batches (when 5 % over the count, or hourly), for deleted jobs too (with the global defaults); never the active run, an unfinished one, or one that failed interrupted and waits for `wfctl retry`. |
        | `max_parallel` | 1–1000 | 4 | How many steps of one run may run at once. |
        | `executor` | `unit` \| `process` | the one wfd chose at start-up | How `run` steps start: `unit`, each attempt a transient systemd service of its own (the default when wfd was started by systemd and the system bus answers); `process`, a child of wfd (the default elsewhere: `make run`, containers). A job asking for `unit` where wfd cannot use units fails its `run` steps with the reason. See [operations.md](operations.md#executors). |
        | `sandbox` | mapping | — | systemd sandboxing for every `run` step of the job (unit executor only), see below; a step's own `sandbox` keys go over these one by one. |
        | `resources` | mapping | — | Limits on every `run` step's unit (its cgroup), see below; a step's own go over these. |
        | `on` | mapping | — | What else starts a run, beside `schedule` and `wfctl run`: a webhook, files appearing or changing, another job's runs ending. See [`on`](#on). |
        | `steps` | list of steps | required | The DAG. |

        ## Step keys

        Every step has an `id` and exactly one kind: `run`, `http`, `llm`, `approval` or `agent`.

        | key | type | default | meaning |
        | --- | --- | --- | --- |
        | `id` | string | required | Unique in the job; `[A-Za-z_][A-Za-z0-9_-]{0,63}`. |
        | `needs` | step id or list | — | Steps that must succeed first. Steps whose needs are met run in parallel. Unknown ids and cycles are errors. |
        | `run` | string | — | A shell command line, run with `/bin/sh -c` in the jobs directory. It may not contain `${{ … }}`: values never enter a command line; read them from the environment. |
        | `http` | mapping | — | One HTTP request, see below. |
        | `llm` | mapping | — | One model call, its answer checked against a schema, see below. |
        | `approval` | mapping | — | A person must approve (`wfctl approve`), see below. |
        | `agent` | mapping | — | A model with tools the job declares, called in a loop until it answers, see below. |
        | `output` | `text` \| `json` | `text` | How stdout becomes the step's output (kept up to 1 MiB, without its final newline): `json` must parse, or the attempt fails saying so; `text` is cut at the limit. Later steps read it from `WF_STEP_<ID>_OUTPUT` (when it is at most 64 KiB) and always from the file named by `WF_STEP_<ID>_OUTPUT_FILE`. |
        | `retry` | mapping | `http`, `llm`, `agent`: 3 attempts | How failed attempts are tried again, see below. A failed or timed-out attempt waits in `retry_wait` (its due time is in the step record) and is tried again; a cancelled one never is, nor a failure that trying again cannot mend (an HTTP 4xx, a rejection, a budget). `http` and `llm` steps without `retry:` get `{ attempts: 3, delay: 2s, backoff: 2, max_delay: 1m }`, and never retry sooner than a server's `Retry-After`. |
        | `timeout` | duration | — | The limit for one attempt: SIGTERM to the step's process group, a grace period, SIGKILL; for `http` the request's limit when shorter than `http.timeout`; for `llm` each call's limit (default 5m); for `agent` the whole loop's, counted from its first model call across attempts and restarts. |
        | `env` | map NAME → value | — | Environment variables for this step, over the job's. |
        | `secrets` | list of names | — | `run` steps only: secrets of the job this step's process gets, as `$WF_SECRET_<NAME>`. |
        | `workdir` | path | the jobs directory | The working directory; relative paths are relative to the jobs directory. |
        | `user` | user name or uid | wfd's user | Run the step as this account, with its primary and supplementary groups as the system lists them now, and its `HOME`, `USER`, `LOGNAME`. As a unit, systemd switches to it (`User=`); as a process, wfd must run as root with `CAP_SETUID`. An unknown user fails the attempt with that reason. |
        | `sandbox` | mapping | the job's | `run` steps only: this step's sandboxing, key by key over the job's (see below). |
        | `resources` | mapping | the job's | `run` steps only: this step's limits, key by key over the job's (see below). |
        | `effect` | `pure` \| `idempotent` \| `effectful` | by kind | What crash recovery may re-run: a `pure` or `idempotent` step that was running when wfd died runs again as a new attempt; an `effectful` one becomes `interrupted` and its run waits for `wfctl retry` (see [state-directory.md](state-directory.md#recovery)). Default: `effectful` for `run`, by method for `http`, `pure` for `llm`, `idempotent` for `agent` (its loop goes on from its transcript; its tools keep their own effect classes). |
        | `for_each` | `${{ reference }}` | — | Run the step once per item of a JSON array: an earlier step's output (`${{ steps.list.output }}`, or a field of it: `${{ steps.list.output.hosts }}`) or a parameter holding JSON. Each item is an attempt-tracked sub-step with its own retries, run with `WF_ITEM` (a string item as it is, anything else as JSON) and `WF_ITEM_INDEX`; at most `max_parallel` processes of the run at once. The step succeeds when every item did; its output for later steps is the JSON array of the items' outputs. `wfctl retry` runs only the items that did not succeed. |
        | `when` | `success` \| `always` \| `failure` \| `${{ … }}` | `success` | When the step runs: `success` once everything it needs succeeded (skipped as soon as one did not); `always` once everything it needs has ended, however (clean-up); `failure` once everything it needs has ended and something did not succeed (skipped, not failed, when all succeeded). `${{ expression }}`: a condition (see [Conditions](#conditions)), decided once everything it needs succeeded (or, when it reads a step's `state`, once everything it needs has ended); the step runs when it is true and is skipped when it is false. In a `for_each` step it is decided for each item, with `item`. |

        ### `http`

        | key | type | meaning |
        | --- | --- | --- |
        | `method` | `GET` `HEAD` `POST` `PUT` `PATCH` `DELETE` `OPTIONS` | Default `GET` (any case). |
        | `url` | string, required | `http://` or `https://`; may hold templates. |
        | `headers` | map | Header values may hold templates. |
        | `query` | map | Query parameters; values may hold templates. |
        | `json` | any value | A JSON body; strings in it may hold templates. Not with `body`. |
        | `body` | string | A raw body. Not with `json`. |
        | `timeout` | duration | The whole exchange's limit (default 30s). |
        | `expect` | status or list | Statuses that count as success; default any 2xx. |
        | `idempotency_key` | string | Sent as `Idempotency-Key` and recorded; may hold templates (`${{ run.id }}-${{ item.id }}`). It makes the step `idempotent` for recovery, and lets a POST that may have reached the server be sent again. |

        The response body (up to 1 MiB) is the step's output: later steps see it as JSON when it parses
        (`${{ steps.get.output.items }}`), else as text. What is retried (within the step's `retry`): a
        request that could not connect (it was never sent); 429, 408, 502, 503 and 504; and for methods
        that are safe to repeat (GET, HEAD, OPTIONS, PUT, DELETE, or any method with an
        `idempotency_key`) 500 and a connection that broke or timed out. A POST or PATCH without a key
        that may have reached the server is not sent again: the step fails and says so. Other statuses
        fail at once (`http_status`), with the start of the body in the error. The step record keeps the
        method, URL, status, latency, size and idempotency key — never a header, since headers may carry
        secrets. Requests go through URLSession (libcurl and the system's TLS and CA store).

        ### `llm`

        | key | type | meaning |
        | --- | --- | --- |
        | `provider` | `openai` \| `anthropic`, required | The wire protocol; `openai` covers any compatible server via `base_url`. |
        | `model` | string, required | The provider's model name. |
        | `base_url` | URL | Another endpoint (Ollama, vLLM, llama.cpp server); may hold templates (`${{ params.llm_url }}`). |
        | `api_key_secret` | secret name | Must be listed in the job's `secrets`. |
        | `system` | string | The system prompt; may hold templates. |
        | `prompt` | string, required | May hold templates. |
        | `temperature` | number 0–2 | |
        | `max_tokens` | whole number ≥ 1 | The answer's limit (default 4096); also what budgets count as the worst case of a call. |
        | `schema` | JSON Schema | The output must match it (draft 2020-12; checked against the meta-schema when the file is loaded, so a mistake in it is reported at its line). |
        | `repair_attempts` | 0–10 | How often a schema violation is fed back to the model; default 2. |

        With a `schema`, wfd asks for structured output the way each provider offers it: OpenAI's
        `response_format: {type: json_schema}` (which compatible servers accept too), Anthropic's forced
        tool call (a schema that is not an object is wrapped as `{value: …}` and unwrapped). Either way
        the answer is validated; every violation (its path in the answer, its keyword, what is wrong) is
        sent back to the model with the request to answer again, up to `repair_attempts` times; then the
        attempt fails as `invalid_output` (retried by the step's `retry`). A transport failure (no
        connection, 429, 5xx, no answer in time) ends the attempt for the retry policy instead, honouring
        `Retry-After`; a 401 or other 4xx fails at once. The validated JSON (or, without a schema, the
        text) is the step's output. Every call is recorded in the step record: model, SHA-256 of what was
        sent, input and output tokens, latency, cost at the model's price, and how it went. A step that
        succeeded is never called again: a later retry or a recovery reads its output back.

        ### `approval`

        | key | type | meaning |
        | --- | --- | --- |
        | `message` | string, required | What the person approves; may hold templates. |
        | `timeout` | duration | How long to wait; the wait survives restarts of wfd. |
        | `on_timeout` | `reject` \| `approve` | What the timeout decides; default `reject`. |
        | `input` | JSON Schema | Data the approver must give (`wfctl approve RUN STEP --input JSON`), checked against this schema; it becomes the step's output. Without it the output is `{"approved": true, "by": …, "comment": …}`. |

        ### `agent`

        An agent step gives a model instructions and tools, and loops: each model call may ask for tool
        calls, wfd runs them and sends the results back, until the model answers without asking for a
        tool (its answer checked against `schema`), or a bound is hit. The tools are the job's: the model
        picks one and gives its arguments, never a URL or a command line.

        | key | type | meaning |
        | --- | --- | --- |
        | `provider`, `model`, `base_url`, `api_key_secret`, `system`, `temperature`, `schema`, `repair_attempts` | | As for `llm`; `schema` checks the final answer. |
        | `instructions` | string, required | What the agent is to do (the first user message); may hold templates. |
        | `max_tokens` | whole number ≥ 1 | Each model call's limit (default 4096). |
        | `max_turns` | 1–100 | The most model calls (repairs of the answer aside); default 10. The last offers no tools and tells the model to answer; a model that still asks for one fails the step as `max_turns`. |
        | `tools` | list | The tools, each with `name` (letters, digits, `_`, `-`; up to 64), `description` (for the model), exactly one of `http` (a request as in an `http` step, whose fields may read the model's arguments as `${{ args.NAME }}`), `run` (a fixed command line: the arguments arrive as `WF_ARGS`, their JSON, and `WF_ARG_<NAME>` for each string, number or boolean) or `job` (another job's id: a run of it is started with the arguments as its parameters, through its inbox like an `on: { job: … }` trigger, and awaited; the result is its state and its steps' outputs), and optionally `schema` (the arguments' JSON Schema, an object's; default for `http`: each `args.NAME` it reads, required, a string, number or boolean; for `run`: no arguments; a `job` tool's are its job's parameters, as loaded when the step starts), `effect` (default by method for `http`, `effectful` for `run`, `idempotent` for `job`: its run's id is recorded before it starts, so a call taken up again awaits that run and starts no other) and `approve` (`true`: a person approves each call). A job without a schedule or `on:` is started like a run by hand: not while a run of it is active (the model is told). |
        | `mcp_servers` | list | MCP servers the agent may use, each with `name`, `command` (the program and its arguments, no shell), `env`, `tools` (the allowlist: only these of the server's tools are offered, with the schemas the server gives), `effect` (default `effectful`) and `approve`. wfd starts each as its child over stdio when the attempt starts and stops it when the attempt ends; its stderr goes to `logs/<step>.mcp-<name>.log`. |

        Every tool call's arguments are checked against its schema before anything runs; an unknown tool
        or arguments off the schema are refused and the model is told why. A call of a tool with
        `approve: true` stops the loop: the step waits (`wfctl pending` shows the tool and its arguments);
        `wfctl approve RUN STEP` runs the call, `wfctl reject RUN STEP --comment …` tells the model a person
        refused it; either way the loop goes on. The job's `budget` and `daily_budget` are checked before
        every model call as for `llm` (with `on_budget: approve` the step waits). The step's `timeout`
        bounds the whole loop. A tool's result (an HTTP tool's status and body, a command's stdout, an
        MCP tool's text) is sent to the model up to 32 KiB.

        The loop is durable: every model answer is written to `agent/<step>.json` in the run directory
        (fsynced) before any tool acts on it, every tool call before it starts and when it ends. After a
        crash, a retry or a decision the loop goes on from that transcript: recorded answers and results
        are sent as they were, never asked for again. A tool call that was running when wfd stopped runs
        again if its effect is `pure` or `idempotent`; an `effectful` one fails the step as `interrupted`
        until a person runs `wfctl retry` (which runs the call again). A `wfctl retry` of a failed agent step takes the loop up from its transcript too (nothing recorded is asked for again), with its `timeout` and `max_turns` counted anew from the retry; tools the model asked for on its last turn, which were not run then, run now. `wfctl show` prints the transcript
        turn by turn; the step record counts each attempt's model calls as for `llm`. The answer (JSON
        with a schema, else text) is the step's output.

        ### `retry`

        | key | type | meaning |
        | --- | --- | --- |
        | `attempts` | 1–100, required | Counts the first try: 3 means up to two retries. |
        | `delay` | duration | Before the first retry (default 1s). |
        | `backoff` | number 1–10 | Each delay is the previous one times this (default 1). The wait is drawn at random in [0, delay] ("full jitter"), so retries of many jobs spread out. |
        | `max_delay` | duration | The longest delay; not shorter than `delay`. |
        | `on_exit_codes` | code or list (1–255) | Only these exit codes are retried; default every failure. |

        ### `sandbox`

        Settings of systemd.exec(5) for the step's unit. Only the unit executor applies them: a step with
        any of them that would run as a process fails to start, saying so (nothing is silently ignored).

        | key | type | unit property | meaning |
        | --- | --- | --- | --- |
        | `protect_system` | `true` \| `false` \| `full` \| `strict` | `ProtectSystem=` | `true`: /usr and /boot read-only; `full`: /etc too; `strict`: the whole file system but /dev, /proc, /sys and `read_write_paths`. |
        | `protect_home` | `true` \| `false` \| `read-only` \| `tmpfs` | `ProtectHome=` | /home, /root and /run/user made empty, read-only or a fresh tmpfs. |
        | `read_write_paths` | absolute path or list | `ReadWritePaths=` | Writable even under `protect_system: strict`; a leading `-` lets a path be missing. |
        | `read_only_paths` | absolute path or list | `ReadOnlyPaths=` | Read-only for the step. |
        | `inaccessible_paths` | absolute path or list | `InaccessiblePaths=` | Not there for the step. |
        | `private_tmp` | boolean | `PrivateTmp=` | A /tmp and /var/tmp of the step's own. |
        | `private_network` | boolean | `PrivateNetwork=` | Only a loopback device. |
        | `private_devices` | boolean | `PrivateDevices=` | A minimal /dev. |
        | `no_new_privileges` | boolean | `NoNewPrivileges=` | setuid programs (sudo) do not raise privileges. |
        | `dynamic_user` | boolean | `DynamicUser=` | A throwaway user for the attempt (not with `user:`). |

        ### `resources`

        | key | type | unit property | meaning |
        | --- | --- | --- | --- |
        | `memory_max` | size: bytes, or `512M`, `2G` (K, M, G, T: powers of 1024) | `MemoryMax=` | Past it the kernel kills the step: the attempt ends with the outcome `oom` (not retried by `on_exit_codes`, retried by `attempts`). |
        | `cpu_quota` | percentage, `50%`, `200%` | `CPUQuota=` | CPU time per second of wall time: 100% is one CPU. |
        | `tasks_max` | 1–4194304 | `TasksMax=` | Processes and threads of the step at once. |
        | `io_weight` | 1–10000 | `IOWeight=` | Its share of block IO (default 100). |
        | `nice` | -20–19 | `Nice=` | Its scheduling priority. |

        All steps' units are in `wfd.slice`: `systemctl set-property wfd.slice MemoryMax=8G` caps them
        together. The kernel enforces `memory_max`, `cpu_quota` and `tasks_max` only where their cgroup
        controllers are on the unified (v2) hierarchy, as on every current distribution; on a host that
        still mounts them on v1 systemd sets the properties and nothing enforces them.

        ### `on`

        ```yaml
        on:
          webhook: { verify: github, secret: github_webhook, headers: [X-GitHub-Event],
                     filter: '${{ trigger.headers["x-github-event"] == "release" && trigger.payload.action == "published" }}' }
          path: /srv/inbox/*.csv          # or a list; debounce: 1s
          job: build                      # or a list; states: [succeeded]
        ```

        | key | type | default | meaning |
        | --- | --- | --- | --- |
        | `webhook` | mapping | — | `POST /hooks/<job>` on wfd-web starts a run; see the keys below and [triggers.md](triggers.md). |
        | `path` | absolute path or glob, or a list | — | A matching file written and closed, or moved in (as a systemd `.path` unit's `PathChanged=`), starts a run once the job's files have been quiet for `debounce`; the run's payload is `{"paths": [...]}`, every file that changed. A glob (`*`, `?`, `[…]`) only in the last part. |
        | `debounce` | duration | `1s` | How long the files must be quiet. |
        | `job` | job id, or a list | — | A run of one of these jobs ending in one of `states` starts a run of this one, whose payload is `{"job", "run", "state", "outputs": {step: output}}`. A cycle of such triggers is an error when jobs.d is loaded: the jobs in it are not loaded. |
        | `states` | list of `succeeded`, `failed`, `cancelled`, `timed_out` | `[succeeded]` | The end states that count. |

        `webhook`:

        | key | type | default | meaning |
        | --- | --- | --- | --- |
        | `verify` | `github` \| `hmac` \| `bearer` | `github` | How a delivery proves its sender: `github`, `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body, hex>`; `hmac`, the same HMAC (hex, `sha256=` optional) in `signature_header`; `bearer`, `Authorization: Bearer <secret>`. Compared in constant time. |
        | `secret` | credential name | required | The systemd credential with the shared secret (`LoadCredential=github_webhook:/etc/wfd/github_webhook` in wfd.service). |
        | `mode` | `enforce` \| `observe` | `enforce` | `observe` lets a delivery that fails verification through and logs what would have refused it: for rolling out. |
        | `signature_header` | header name | `X-Signature-256` | For `verify: hmac`. |
        | `delivery_header` | header name | `X-GitHub-Delivery` (`github`), else `Idempotency-Key` | The delivery's id: a redelivery starts no second run, and is answered with the first run's id. |
        | `headers` | list of header names | — | Headers passed on to the run as `trigger.headers.<lower-case name>`; never `Authorization`, `Cookie` or the signature. |
        | `max_bytes` | 1–1048576 | 262144 | The largest payload taken (413 above it). The payload must be JSON (400 if not). |
        | `filter` | `${{ … }}` | — | A [condition](#conditions) over `trigger` (and `params`, `job`): when it is not true the delivery starts nothing and is answered 204. |

        A triggered run has `run.trigger` `webhook`, `path` or `job`, and in templates and conditions
        `trigger.kind`, `trigger.source` (`POST /hooks/deploy`, the file, `job build`),
        `trigger.delivery` (the delivery's id, or the run that ended), `trigger.headers.<name>` and
        `trigger.payload[.field…]`. Its `run:` steps get `WF_TRIGGER`, `WF_TRIGGER_SOURCE`,
        `WF_TRIGGER_DELIVERY` and `WF_TRIGGER_PAYLOAD_FILE` (the payload as it came, in the run's
        directory). Every trigger meets the job's `concurrency:` like a fire time (a queue holds up to
        10,000 triggers), its decision is recorded with the job's (`schedule.json`, `wfctl status`), and
        a trigger taken is on disk (`jobs/<job>/inbox/`) before its sender hears so: a restart of wfd
        loses none. A required parameter without a default is an error in a job with `on:`: a triggered
        run takes the defaults.

        ## Values

        - **Durations**: a number with a unit, repeated: `500ms`, `90s`, `5m`, `1h30m`, `2d`; a bare number
          is seconds. Zero is not a duration.
        - **Cron**, as cronsim 2.8 reads it (and Debian cron, where the two agree): five fields `minute
          hour day-of-month month day-of-week`, or six with a leading seconds field, separated by any
          white space, or one of Debian cron's aliases, exactly as written: `@yearly` `@annually`
          `@monthly` `@weekly` `@daily` `@midnight` `@hourly`. Each field takes numbers (ASCII digits
          only: `+5`, `5.0` and `٣` are errors), `*`, lists `1,15`, ranges `1-5` (never backwards), steps
          `*/15` and `5-59/20` (`5/20` runs from 5 to the end of the field); months and weekdays take
          names in any case (`JAN`, `mon`), and both 0 and 7 are Sunday. cronsim's extensions: `L` (the
          last day) and `LW` (the last weekday) in day-of-month, `5L` (the last Friday) and `MON#2` (the
          second Monday, 1 to 5) in day-of-week. When day-of-month and day-of-week are both restricted, a
          day matching either fires; when either starts with `*`, both must match. A day-of-month that can
          never occur in the months given (`0 0 30 2 *`) is an error. `Tests/Fixtures/conformance/cron-grammar-vectors.json`
          (made by `scripts/cron-oracle.py` from cronsim) holds wfd to every production and refusal.
        - **Calendar events** (systemd.time(7), as `OnCalendar=` of systemd 252 reads them):
          `[WEEKDAYS] [DATE] [HH:MM[:SS]] [ZONE]`, e.g. `Mon..Fri *-*-* 09:00`, `Sat-Sun 10:00`,
          `*-*-01 02:30 Europe/Berlin`, `Mon *-05~07/1` (the last Monday of May: `~` counts days from
          the month's end), `@1767225600` (one instant, in UTC), or a shorthand in any case: `minutely`,
          `hourly`, `daily`, `weekly`, `monthly`, `quarterly`, `semiannually` (`semi-annually`,
          `biannually`, `bi-annually`), `yearly` (`annually`). Weekdays are `Mon` or `Monday` in any case,
          in lists with ranges `Mon..Fri` or `Mon-Fri` (never backwards: write `Fri..Sun,Mon`), and a
          trailing comma is allowed (`Wed, 17:48`). A date is `YEAR-MONTH-DAY` or `MONTH-DAY` (two-digit
          years are 19xx from 70, else 20xx); components take lists `1,15`, ranges `1..5` and repetitions
          `0/6`. Weekday and date must both hold. A zone at the end (`UTC` in any case, or a name of the
          time zone database) overrides the job's `timezone`. Where wfd differs from systemd: a fraction
          of a second that is not zero is refused (wfd fires on whole seconds), and the host zone's
          abbreviations (`CET`, `EDT`) are not taken as systemd takes them. Elapses follow systemd 252's
          find_next, its quirks included: an open repetition whose next value passes the end of its field
          is carried as systemd carries it (`*-*-* 1/19:07`, hours 1 and 20, after Jan 31 20:07 next
          fires on Feb 1 at 20:07: the carry across the month skips 01:07).
          `Tests/Fixtures/conformance/calendar-grammar-vectors.json` (made by `scripts/calendar-oracle.py`
          from `systemd-analyze calendar`) holds wfd to every production and refusal.
        - **Which grammar**: a schedule that starts with `@` and a letter, or has 5 or 6 fields, is cron;
          anything else (`@1767225600` too) is a calendar event (which never has more than four parts).
          `wfctl next 'EXPR'` shows how a string is read and when it fires; an expression that starts
          with `-` goes after `--`.
        - **Daylight saving time**, as the reference implementations do it: a cron job whose minute and
          hour fields do not start with `*` (and `@daily` and the other aliases but `@hourly`) is matched
          on the wall clock: a time in a spring-forward gap fires once when the gap ends, a repeated time
          fires once. Every other cron job (`*` in minute or hour, `@hourly`, every 6-field expression)
          fires at each real instant whose wall-clock reading matches: gap times are skipped, repeated
          times fire twice. A calendar event skips a time that falls in a gap that day and fires a
          repeated time once, at its first occurrence (like systemd 252).
        - **Environment names**: `[A-Za-z_][A-Za-z0-9_]*`, not one of systemd's (`NOTIFY_SOCKET`,
          `WATCHDOG_USEC`, `LISTEN_FDS`, `INVOCATION_ID`, `JOURNAL_STREAM`, `CREDENTIALS_DIRECTORY`, the
          `*_DIRECTORY` variables, …). Values are strings, numbers or booleans.
        - **Text**: where text is expected, a number or boolean is an error ("put it in quotes"): write
          `run: "true"`, not `run: true`.

        ## Conditions

        `when: ${{ … }}` takes a small, safe, deterministic expression in the syntax and with the semantics
        of [CEL](https://github.com/google/cel-spec) (the Common Expression Language of Kubernetes and
        Google's APIs), for this subset:

        | what | forms |
        | --- | --- |
        | values | `null`, `true`, `false`, integers, doubles, strings `'…'` or `"…"` (with `\\ \' \" \n \r \t \uXXXX`), lists `[a, b]` |
        | variables | `steps.<id>.output` (the output once the step succeeded: JSON for `output: json`, `http`, `llm` and `approval` steps, text otherwise, the items' outputs for `for_each`), `steps.<id>.state` (`succeeded`, `failed`, `skipped`, …), `params.<name>` (strings), `run.id`, `run.trigger`, `job.id`, in a `for_each` step `item`, and in a job with `on:` `trigger` (null fields for a run the schedule or a person started) |
        | reading | `a.b`, `a[0]`, `a["key"]` |
        | operators | `==` `!=` `<` `<=` `>` `>=` `&&` `\|\|` `!` `in`, unary `-`, parentheses |
        | functions | `s.contains(t)`, `s.startsWith(t)`, `s.endsWith(t)`, `size(x)` or `x.size()`, `has(a.b)` (the field is there), `list.exists(x, condition)` |

        ```yaml
        - id: close_github
          needs: [classify]
          for_each: ${{ steps.classify.output.items }}
          when: ${{ item.source == "github" }}            # the other items are skipped, not failed
          http: { method: PATCH, url: "https://api.github.com/repos/acme/app/issues/${{ item.id }}", json: { state: closed } }
        - id: page
          needs: [deploy]
          when: ${{ steps.deploy.state == "failed" && params.env == "prod" }}
          run: ./page-oncall
        ```

        - **Decided when**: a condition that reads no step's `state` is decided once every step the step
          needs succeeded; if one did not, the step is skipped as with `when: success`. One that reads a
          `state` is decided once they have all ended, however (it handles failures itself).
        - **Semantics, as CEL's**: numbers compare by value across ints and doubles (JSON numbers are
          doubles); `==` of values of different kinds is false; ordering takes two numbers, two strings
          (by code point) or two bools; `&&` and `||` ignore an error on one side when the other side
          decides (`false && x`, `true || x`); `exists` is true if any element gives true.
        - **Checked when the file is loaded** (`wfctl validate`, `file:line:column`): syntax, unknown
          steps, parameters and variables, a step that is read but not needed, `item` outside `for_each`,
          a field of a text output, comparing or ordering kinds that never match (`steps.a.state == 1`),
          and a condition that cannot give true or false.
        - **Known only when it runs**: a missing field or index of a JSON value, an output that is not
          there (a step that did not succeed: test it with `has(…)`), kinds that do not fit. The step then
          fails with the reason (`its condition could not be evaluated: no field 'source' in
          steps.fetch.output (its fields: id, title)`), and `wfctl why` shows the expression and the
          values it read.
        - **Recorded**: each step (each item) with a condition keeps `condition: {expression, value,
          error, seen, at}` (`seen`: every path it read and its value); a skipped step says why in
          `skip_cause`: `condition` (its `when` was false), `need` (a step it needs did not succeed) or
          `cancelled`. `wfctl show` prints `skipped (condition)` or `skipped (need)` and the condition
          with what it read; the journal logs each decision.
        - **Where wfd differs from CEL**: only the subset above (no arithmetic, maps, macros but
          `exists` and `has`, or other functions); step ids may contain `-` after `steps.`
          (`steps.fetch-items.output`); a whole `when` is one `${{ … }}` and cannot contain `}}`; the
          condition must give a bool (CEL would hand back any value).

        ## Templates

        `${{ path }}` fills HTTP and LLM fields, approval messages, `for_each` and `when`. Paths:
        `steps.<id>.output[.field…]` (the step must be among the step's `needs`, directly or through
        others), `params.<name>`, `secrets.<name>` (declared in `secrets`, and only in `http` headers),
        `item[.field…]` (inside `for_each`), `run.id`, `run.trigger`, `job.id`, and in a job with `on:`
        `trigger.payload[.field…]`, `trigger.headers.<name>`, `trigger.source`, `trigger.delivery`,
        `trigger.kind`, and in an agent's tool `args.<name>[.field…]` (the model's arguments). A value that is not a
        string is written as compact JSON; in `http.json`, a string that is one reference becomes the
        value itself (an array stays an array). A reference to an unknown step, parameter or
        secret is an error when the file is loaded. Shell steps and `env` never take templates: a step
        reads its inputs from the environment (`WF_JOB`, `WF_RUN_ID`, `WF_STEP`, `WF_ATTEMPT`,
        `WF_STEP_<ID>_OUTPUT` and `WF_STEP_<ID>_OUTPUT_FILE` for every step it needs, directly or through
        others, with the id upper-cased and other characters as `_` — a step that printed nothing has an
        empty `_OUTPUT` and no `_FILE` — `WF_PARAM_<NAME>` for every parameter, and `WF_ITEM`, `WF_ITEM_INDEX` in a `for_each` step).

        A `run:` command made only of plain words (no quotes, `$`, redirections, globs, operators or
        assignments) whose program is found in `PATH` is started directly; anything else runs as
        `/bin/sh -c 'command'`. The result is the same; starting no shell saves about a millisecond.

        ## Loading

        - wfd watches `jobs.d` and applies a change within 200 ms of the last write (editors that save by
          rename included); `SIGHUP` or `systemctl reload wfd` reloads at once.
        - A file that becomes invalid keeps its last valid version scheduled; the errors are logged and
          shown by `wfctl status` (the job is marked invalid). A new invalid file never runs. Removing a
          file unschedules the job; its history stays.
        - Like cron, wfd refuses files that are not regular files, are writable by group or others
          (`chmod go-w FILE`), or are owned by anyone but root or wfd's own user (`chown root FILE`), and
          files over 1 MiB. YAML aliases are allowed, but a file that expands to more than 200,000 nodes
          (a "billion laughs") is refused at once.
        - Each run keeps the definition it started with in `spec.json`: editing the file never changes a
          run that has started.

        ## Example

        See `jobs.d/` in the repository: `hello.yaml`, `backup.yaml` (retries, timeouts, a clean-up step)
        and `release-aftermath.yaml` (GitHub's release webhook → commits → LLM → approval → HTTP;
        `enabled: false` until its providers and secrets are configured).

        """#
}
