/// The OpenAPI 3.1 document of wfd's HTTP API, served at `/api/openapi.yaml` (and written to
/// docs/openapi.yaml by `wfd-web openapi`). Its schemas are JSON Schema 2020-12: the tests check
/// every answer of every route against them, and that every route here is answered.
public enum OpenAPIDocument {
    public static let text = #"""
        openapi: 3.1.0
        info:
          title: wfd
          version: 0.1.0
          summary: The HTTP API of wfd, the systemd-native workflow daemon.
          description: |
            Read from wfd's state directory at the time of each request, with the same data as
            `wfctl ... --json` prints. Served by wfd-web on a Unix socket (/run/wfd/web.sock: no
            token; who may connect is the socket's group) and, when configured, over TCP.
            Commands (POST) go to wfd over its control socket on behalf of the caller, whose rights
            are wfctl's and whose name the records keep ("uid 1000 (alice) via wfd-web").
            Over TCP, requests carry a bearer token (see the bearer scheme); records then name
            the token ("token deploy-bot via wfd-web"). Errors are RFC 9457 problem details.
          license:
            name: Apache-2.0
            identifier: Apache-2.0
        jsonSchemaDialect: https://json-schema.org/draft/2020-12/schema
        security:
          - {}
          - bearer: []
        paths:
          /api/openapi.yaml:
            get:
              operationId: getOpenAPIDocument
              summary: This document.
              responses:
                "200":
                  description: The document.
                  content:
                    application/yaml:
                      schema:
                        type: string
          /api/v1/jobs:
            get:
              operationId: listJobs
              summary: Every job with its state, schedules, next fire time, last and active run (wfctl status --json).
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The status report.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/StatusReport"
                "500":
                  $ref: "#/components/responses/Problem"
          /api/v1/jobs/{job}:
            get:
              operationId: getJob
              summary: One job's status (its entry in wfctl status --json).
              parameters:
                - $ref: "#/components/parameters/Job"
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The job.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/JobStatus"
                "400":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "500":
                  $ref: "#/components/responses/Problem"
          /api/v1/jobs/{job}/definition:
            get:
              operationId: getJobDefinition
              summary: One job's file as wfd indexed it and as it is now, its next fire times and its latest scheduling decisions.
              parameters:
                - $ref: "#/components/parameters/Job"
                - name: next
                  in: query
                  required: false
                  description: How many fire times (0 to 100, default 5).
                  schema: {type: integer, minimum: 0, maximum: 100}
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The job.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [info, next, decisions]
                        properties:
                          info:
                            type: object
                            required: [job, file, schedules, enabled, steps]
                            properties:
                              job: {$ref: "#/components/schemas/JobID"}
                              file: {type: string}
                              schedules:
                                type: array
                                items: {type: string}
                              enabled: {type: boolean}
                              steps:
                                type: array
                                items: {type: string}
                          text: {type: string}
                          next:
                            type: array
                            items: {$ref: "#/components/schemas/Time"}
                          decisions:
                            type: array
                            items: {type: object}
                "400":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
          /api/v1/runs:
            get:
              operationId: listRuns
              summary: Ended runs, newest first (by when they ended), with filters and cursor paging (wfctl runs).
              description: |
                Reads the index of the job given, or every job's (runs.jsonl in the state
                directory), from where the cursor points towards its start: a page costs the
                same at the top of a history of 10⁶ runs as deep in it. A page reads at most
                10,000 index lines, so a filter few runs pass may answer with fewer runs than
                asked and a `next` cursor: go on until `next` is null. The first page (no cursor)
                also lists the runs that have not ended, in `active`.
              parameters:
                - name: job
                  in: query
                  required: false
                  schema: {$ref: "#/components/schemas/JobID"}
                - name: state
                  in: query
                  required: false
                  description: Run states, separated by commas (failed,timed_out).
                  schema: {type: string}
                - name: trigger
                  in: query
                  required: false
                  description: Triggers, separated by commas (schedule,catchup,manual,retry).
                  schema: {type: string}
                - name: since
                  in: query
                  required: false
                  description: Runs that ended since then, a duration back from now (24h, 7d) or an RFC 3339 time.
                  schema: {type: string}
                - name: until
                  in: query
                  required: false
                  description: Runs that ended by then (a duration back from now or an RFC 3339 time); no active runs.
                  schema: {type: string}
                - name: limit
                  in: query
                  required: false
                  schema: {type: integer, minimum: 1, maximum: 500, default: 50}
                - name: cursor
                  in: query
                  required: false
                  description: The `next` of the page before, with the same filters.
                  schema: {type: string}
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: A page of runs.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [runs, scanned]
                        properties:
                          runs:
                            type: array
                            items: {$ref: "#/components/schemas/RunSummary"}
                          active:
                            type: array
                            items: {$ref: "#/components/schemas/RunSummary"}
                          next: {type: string}
                          scanned: {type: integer, minimum: 0}
                "400":
                  $ref: "#/components/responses/Problem"
          /api/v1/runs/{run}:
            get:
              operationId: getRun
              summary: One run with its steps, attempts, spend and budget (wfctl show --json).
              parameters:
                - $ref: "#/components/parameters/Run"
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The run.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/RunDetail"
                "400":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "500":
                  $ref: "#/components/responses/Problem"
          /api/v1/runs/{run}/why:
            get:
              operationId: explainRun
              summary: Why a run failed, its failing step's last lines, and how to retry it (wfctl why --json).
              parameters:
                - $ref: "#/components/parameters/Run"
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The explanation.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/FailureExplanation"
                "400":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "500":
                  $ref: "#/components/responses/Problem"
          /api/v1/runs/{run}/steps/{step}/attempts/{attempt}/log:
            get:
              operationId: getLog
              summary: A step attempt's log, stdout and stderr as written (wfctl logs).
              parameters:
                - $ref: "#/components/parameters/Run"
                - $ref: "#/components/parameters/Step"
                - $ref: "#/components/parameters/Attempt"
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The log.
                  content:
                    text/plain; charset=utf-8:
                      schema:
                        type: string
                "400":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
          /api/v1/runs/{run}/steps/{step}/attempts/{attempt}/log/events:
            get:
              operationId: followLog
              summary: A step attempt's log as Server-Sent Events, live (wfctl logs --follow).
              description: |
                Each `message` event holds the complete lines written since the previous one, one
                `data:` field per line, with `id:` the byte offset after them: reconnect with
                `Last-Event-ID` (or `?offset=`) to go on from there. A `: heartbeat` comment comes
                every 15 s of quiet. Once the attempt has ended and its log is read to its end,
                an `end` event carries `{"outcome", "exit_code"}` and the stream closes.
              parameters:
                - $ref: "#/components/parameters/Run"
                - $ref: "#/components/parameters/Step"
                - $ref: "#/components/parameters/Attempt"
                - name: Last-Event-ID
                  in: header
                  required: false
                  schema: {type: string, pattern: "^[0-9]+$"}
                - name: offset
                  in: query
                  required: false
                  schema: {type: integer, minimum: 0}
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The event stream.
                  content:
                    text/event-stream:
                      schema:
                        type: string
                "400":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
          /api/v1/approvals:
            get:
              operationId: listApprovals
              summary: The inbox, every step that waits for a person, oldest first (wfctl pending --json).
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The waiting steps.
                  content:
                    application/json:
                      schema:
                        type: array
                        items:
                          $ref: "#/components/schemas/PendingDecision"
          /api/v1/stats:
            get:
              operationId: getStats
              summary: Success rate, durations, retries, cost and failures per job over a period (wfctl stats --json).
              parameters:
                - name: job
                  in: query
                  required: false
                  description: One job (default every job with runs).
                  schema:
                    $ref: "#/components/schemas/JobID"
                - name: since
                  in: query
                  required: false
                  description: The period's start, a duration back from now (24h, 7d) or an RFC 3339 time.
                  schema:
                    type: string
                    default: 7d
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The statistics.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/StatisticsReport"
                "400":
                  $ref: "#/components/responses/Problem"
          /metrics:
            get:
              operationId: getMetrics
              summary: wfd's metrics in Prometheus's text format (wfctl metrics); counters count from wfd's start.
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The exposition (runs, step attempts, durations, lateness, model calls and cost, waits, gauges).
                  content:
                    text/plain; version=0.0.4; charset=utf-8:
                      schema:
                        type: string
                "503":
                  $ref: "#/components/responses/Problem"
          /api/v1/jobs/{job}/runs:
            post:
              operationId: startRun
              summary: Start a run of the job now (wfctl run), with parameter values.
              description: |
                With an idempotency key (the Idempotency-Key header, or idempotency_key in the
                body), a repeated request starts nothing and answers 200 with the run the first
                one started, also after a restart of wfd; the same key with other parameter
                values is a 409. wfd keeps each job's last 1,000 keys.
              parameters:
                - $ref: "#/components/parameters/Job"
                - name: Idempotency-Key
                  in: header
                  required: false
                  schema: {type: string, minLength: 1, maxLength: 255}
              requestBody:
                required: false
                content:
                  application/json:
                    schema:
                      type: object
                      properties:
                        params:
                          type: object
                          additionalProperties: {type: string}
                        idempotency_key: {type: string, minLength: 1, maxLength: 255}
              responses:
                "200":
                  $ref: "#/components/responses/Done"
                "401":
                  $ref: "#/components/responses/Problem"
                "202":
                  $ref: "#/components/responses/Accepted"
                "400":
                  $ref: "#/components/responses/Problem"
                "403":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "409":
                  $ref: "#/components/responses/Problem"
                "503":
                  $ref: "#/components/responses/Problem"
          /api/v1/runs/{run}/cancel:
            post:
              operationId: cancelRun
              summary: Cancel an active run (wfctl cancel).
              parameters:
                - $ref: "#/components/parameters/Run"
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "202":
                  $ref: "#/components/responses/Accepted"
                "400":
                  $ref: "#/components/responses/Problem"
                "403":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "409":
                  $ref: "#/components/responses/Problem"
                "503":
                  $ref: "#/components/responses/Problem"
          /api/v1/runs/{run}/retry:
            post:
              operationId: retryRun
              summary: Run an ended run again, from its failed steps or from a step, skipping steps with outputs given (wfctl retry).
              parameters:
                - $ref: "#/components/parameters/Run"
              requestBody:
                required: false
                content:
                  application/json:
                    schema:
                      type: object
                      properties:
                        from: {type: string}
                        skip:
                          type: array
                          items: {type: string}
                        outputs:
                          type: object
                          additionalProperties: {type: string}
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "202":
                  $ref: "#/components/responses/Accepted"
                "400":
                  $ref: "#/components/responses/Problem"
                "403":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "409":
                  $ref: "#/components/responses/Problem"
                "503":
                  $ref: "#/components/responses/Problem"
          /api/v1/runs/{run}/steps/{step}/approve:
            post:
              operationId: approveStep
              summary: Approve a step that waits for a person, with the data it asks for (wfctl approve).
              parameters:
                - $ref: "#/components/parameters/Run"
                - $ref: "#/components/parameters/Step"
              requestBody:
                required: false
                content:
                  application/json:
                    schema:
                      $ref: "#/components/schemas/DecisionBody"
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  $ref: "#/components/responses/Done"
                "400":
                  $ref: "#/components/responses/Problem"
                "403":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "409":
                  $ref: "#/components/responses/Problem"
                "503":
                  $ref: "#/components/responses/Problem"
          /api/v1/runs/{run}/steps/{step}/reject:
            post:
              operationId: rejectStep
              summary: Reject a step that waits for a person (wfctl reject).
              parameters:
                - $ref: "#/components/parameters/Run"
                - $ref: "#/components/parameters/Step"
              requestBody:
                required: false
                content:
                  application/json:
                    schema:
                      $ref: "#/components/schemas/DecisionBody"
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  $ref: "#/components/responses/Done"
                "400":
                  $ref: "#/components/responses/Problem"
                "403":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "409":
                  $ref: "#/components/responses/Problem"
                "503":
                  $ref: "#/components/responses/Problem"
          /api/v1/reload:
            post:
              operationId: reload
              summary: Re-read jobs.d; answers once the new jobs are in effect (wfctl reload).
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  $ref: "#/components/responses/Done"
                "403":
                  $ref: "#/components/responses/Problem"
                "500":
                  $ref: "#/components/responses/Problem"
                "503":
                  $ref: "#/components/responses/Problem"
          /hooks/{job}:
            post:
              operationId: deliverWebhook
              summary: A webhook's delivery for a job with on.webhook; it starts (or queues) a run.
              description: |
                No API token: the delivery proves its sender by the job's verification (GitHub's
                X-Hub-Signature-256, an HMAC header, or a bearer token), checked by wfd against the
                shared secret. The body must be JSON, at most the job's max_bytes. A redelivery
                (the same X-GitHub-Delivery, or the job's delivery_header) starts nothing and is
                answered 200 with the first run's id. A delivery the job's filter turns down is
                answered 204 with the reason in X-Wfd-Reason.
              security: []
              parameters:
                - $ref: "#/components/parameters/Job"
                - name: X-Hub-Signature-256
                  in: header
                  required: false
                  schema: {type: string}
                - name: X-GitHub-Delivery
                  in: header
                  required: false
                  schema: {type: string}
              requestBody:
                required: true
                content:
                  application/json:
                    schema: {}
              responses:
                "200":
                  $ref: "#/components/responses/Done"
                "202":
                  $ref: "#/components/responses/Accepted"
                "204":
                  description: The job's filter turned the delivery down; nothing started.
                "400":
                  $ref: "#/components/responses/Problem"
                "401":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "409":
                  $ref: "#/components/responses/Problem"
                "413":
                  $ref: "#/components/responses/Problem"
                "500":
                  $ref: "#/components/responses/Problem"
                "503":
                  $ref: "#/components/responses/Problem"
          /api/v1/jobs/{job}/preview:
            post:
              operationId: previewRun
              summary: What a run with these parameters would do, without running it (wfctl run --dry-run).
              description: |
                From the job as wfd loaded it and wfd's prices: its steps in an order the run could
                take them, the conditions the parameters decide already, each model call's worst
                case against the budget, the approvals it would wait for. Nothing is started; the
                read scope is enough.
              parameters:
                - $ref: "#/components/parameters/Job"
              requestBody:
                required: false
                content:
                  application/json:
                    schema:
                      type: object
                      properties:
                        params:
                          type: object
                          additionalProperties: {type: string}
              responses:
                "200":
                  description: The preview.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/RunPreview"
                "400":
                  $ref: "#/components/responses/Problem"
                "401":
                  $ref: "#/components/responses/Problem"
                "403":
                  $ref: "#/components/responses/Problem"
                "404":
                  $ref: "#/components/responses/Problem"
                "500":
                  $ref: "#/components/responses/Problem"
                "503":
                  $ref: "#/components/responses/Problem"
          /api/v1/validate:
            post:
              operationId: validateJobFile
              summary: Check a job file's text, as wfctl validate does; nothing is written or loaded.
              parameters:
                - name: file
                  in: query
                  required: false
                  description: The file's name, which gives the job id (default job.yaml).
                  schema: {type: string}
              requestBody:
                required: true
                content:
                  application/yaml:
                    schema: {type: string}
              responses:
                "401":
                  $ref: "#/components/responses/Problem"
                "200":
                  description: The verdict, with every problem's line and column.
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/JobFileCheck"
                "400":
                  $ref: "#/components/responses/Problem"
                "413":
                  $ref: "#/components/responses/Problem"
        components:
          securitySchemes:
            bearer:
              type: http
              scheme: bearer
              description: |
                Over TCP every request but /api/openapi.yaml needs a token (wfctl token add NAME
                --scope read,operate,approve); its scopes decide what it may do (read: GET;
                operate: runs, retries, cancels, reloads; approve: approvals). Over the Unix
                socket the caller is known from the socket and needs none.
          parameters:
            Job:
              name: job
              in: path
              required: true
              schema:
                $ref: "#/components/schemas/JobID"
            Run:
              name: run
              in: path
              required: true
              schema:
                type: string
            Step:
              name: step
              in: path
              required: true
              schema:
                type: string
            Attempt:
              name: attempt
              in: path
              required: true
              schema:
                type: integer
                minimum: 1
          responses:
            Accepted:
              description: wfd took the command; it goes on in the background.
              content:
                application/json:
                  schema:
                    $ref: "#/components/schemas/CommandResult"
            Done:
              description: wfd did it.
              content:
                application/json:
                  schema:
                    $ref: "#/components/schemas/CommandResult"
            Problem:
              description: An RFC 9457 problem.
              content:
                application/problem+json:
                  schema:
                    $ref: "#/components/schemas/Problem"
          schemas:
            RunPreview:
              type: object
              required: [job, params, steps, worst_tokens, approvals]
              properties:
                job: {type: string}
                params:
                  type: object
                  additionalProperties: {type: string}
                steps:
                  type: array
                  items:
                    type: object
                    required: [step, kind, needs, when]
                    properties:
                      step: {type: string}
                      kind: {enum: [run, http, llm, approval]}
                      needs: {type: array, items: {type: string}}
                      for_each: {type: string}
                      when: {type: string}
                      decided: {type: boolean}
                      because: {type: string}
                      approval: {type: string}
                      model:
                        type: object
                        required: [provider, model, input_tokens, input_is_lower_bound, max_tokens, calls_at_most, worst_tokens]
                        properties:
                          provider: {enum: [openai, anthropic]}
                          model: {type: string}
                          input_tokens: {type: integer}
                          input_is_lower_bound: {type: boolean}
                          max_tokens: {type: integer}
                          calls_at_most: {type: integer}
                          worst_tokens: {type: integer}
                          worst_usd: {type: number}
                worst_tokens: {type: integer}
                worst_usd: {type: number}
                budget:
                  type: object
                  properties:
                    usd: {type: number}
                    tokens: {type: integer}
                budget_verdict: {type: string}
                approvals: {type: array, items: {type: string}}
            JobFileCheck:
              type: object
              required: [file, valid, diagnostics]
              properties:
                file: {type: string}
                job: {type: string}
                valid: {type: boolean}
                diagnostics:
                  type: array
                  items:
                    type: object
                    required: [file, line, column, message]
                    properties:
                      file: {type: string}
                      line: {type: integer, minimum: 0}
                      column: {type: integer, minimum: 0}
                      message: {type: string}
                      hint: {type: string}
            PendingDecision:
              type: object
              required: [job, run, step, kind, since, message, approve]
              properties:
                job: {$ref: "#/components/schemas/JobID"}
                run: {type: string}
                step: {type: string}
                item: {type: integer, minimum: 0}
                kind: {enum: [approval, budget, tool]}
                since: {$ref: "#/components/schemas/Time"}
                deadline: {$ref: "#/components/schemas/Time"}
                message: {type: string}
                approve: {type: string}
            CommandResult:
              type: object
              required: [message]
              properties:
                message: {type: string}
                run: {type: string}
            DecisionBody:
              type: object
              properties:
                input:
                  description: The data the approval asks for (checked against the step's schema).
                comment: {type: string}
                item:
                  type: integer
                  minimum: 0
                  description: For a for_each step, the item's position.
            JobID:
              type: string
              pattern: "^[a-z0-9][a-z0-9._-]{0,63}$"
            Time:
              type: string
              format: date-time
              pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$"
            RunState:
              enum: [queued, running, waiting, succeeded, failed, cancelled, timed_out]
            StepState:
              enum: [pending, running, waiting, succeeded, failed, skipped, cancelled, retry_wait, interrupted]
            Trigger:
              enum: [schedule, catchup, manual, retry, webhook, path, job]
            Problem:
              type: object
              required: [type, title, status, detail]
              properties:
                type: {type: string}
                title: {type: string}
                status: {type: integer, minimum: 400, maximum: 599}
                detail: {type: string}
                instance: {type: string}
            RunSummary:
              type: object
              required: [id, state, trigger]
              properties:
                job: {$ref: "#/components/schemas/JobID"}
                id: {type: string}
                state: {$ref: "#/components/schemas/RunState"}
                trigger: {$ref: "#/components/schemas/Trigger"}
                scheduled_for: {$ref: "#/components/schemas/Time"}
                started_at: {$ref: "#/components/schemas/Time"}
                ended_at: {$ref: "#/components/schemas/Time"}
                error: {type: string}
            StatusReport:
              type: object
              required: [version, state_directory, daemon, jobs, quarantined]
              properties:
                version: {type: integer}
                state_directory: {type: string}
                daemon:
                  type: object
                  required: [running]
                  properties:
                    running: {type: boolean}
                    pid: {type: integer}
                    started_at: {$ref: "#/components/schemas/Time"}
                    version: {type: string}
                jobs:
                  type: array
                  items: {$ref: "#/components/schemas/JobStatus"}
                quarantined:
                  type: array
                  items: {type: object}
            JobStatus:
              type: object
              required: [job, file, state, schedules, running, errors, decisions]
              properties:
                job: {$ref: "#/components/schemas/JobID"}
                description: {type: string}
                file: {type: string}
                state: {enum: [active, disabled, invalid]}
                schedules:
                  type: array
                  items: {type: string}
                timezone: {type: string}
                next_fire: {$ref: "#/components/schemas/Time"}
                running: {type: boolean}
                last_run: {$ref: "#/components/schemas/RunSummary"}
                active_run: {$ref: "#/components/schemas/RunSummary"}
                success_rate:
                  type: object
                  required: [ended, succeeded]
                  properties:
                    ended: {type: integer, minimum: 0}
                    succeeded: {type: integer, minimum: 0}
                errors:
                  type: array
                  items: {type: string}
                decisions:
                  type: array
                  items: {type: object}
            Attempt:
              type: object
              required: [number, planned_at]
              properties:
                number: {type: integer, minimum: 1}
                planned_at: {$ref: "#/components/schemas/Time"}
                started_at: {$ref: "#/components/schemas/Time"}
                ended_at: {$ref: "#/components/schemas/Time"}
                duration_ms: {type: integer, minimum: 0}
                outcome: {enum: [succeeded, failed, cancelled, timed_out, interrupted, oom]}
                exit_code: {type: integer}
                error: {type: string}
                error_kind: {type: string}
                log: {type: string}
                output: {type: string}
            StepRecord:
              type: object
              required: [version, job, run, step, state, needs, attempts]
              properties:
                version: {type: integer}
                job: {$ref: "#/components/schemas/JobID"}
                run: {type: string}
                step: {type: string}
                state: {$ref: "#/components/schemas/StepState"}
                needs:
                  type: array
                  items: {type: string}
                attempts:
                  type: array
                  items: {$ref: "#/components/schemas/Attempt"}
                error: {type: string}
            RunRecord:
              type: object
              required: [version, id, job, state, trigger, created_at]
              properties:
                version: {type: integer}
                id: {type: string}
                job: {$ref: "#/components/schemas/JobID"}
                state: {$ref: "#/components/schemas/RunState"}
                trigger: {$ref: "#/components/schemas/Trigger"}
                created_at: {$ref: "#/components/schemas/Time"}
                scheduled_for: {$ref: "#/components/schemas/Time"}
                started_at: {$ref: "#/components/schemas/Time"}
                ended_at: {$ref: "#/components/schemas/Time"}
                error: {type: string}
                interrupted: {type: boolean}
            Spend:
              type: object
              required: [usd, tokens, calls]
              properties:
                usd: {type: number, minimum: 0}
                tokens: {type: integer, minimum: 0}
                calls: {type: integer, minimum: 0}
            RunDetail:
              type: object
              required: [run, steps, spend]
              properties:
                run: {$ref: "#/components/schemas/RunRecord"}
                steps:
                  type: array
                  items: {$ref: "#/components/schemas/StepRecord"}
                spend: {$ref: "#/components/schemas/Spend"}
                budget:
                  type: object
                  properties:
                    usd: {type: number}
                    tokens: {type: integer}
                agents:
                  type: array
                  description: The transcripts of its agent steps, turn by turn (agent/<step>.json).
                  items: {$ref: "#/components/schemas/AgentTranscript"}
            AgentTranscript:
              type: object
              required: [job, run, step, started_at, turns]
              properties:
                job: {$ref: "#/components/schemas/JobID"}
                run: {type: string}
                step: {type: string}
                item: {type: integer, minimum: 0}
                started_at: {$ref: "#/components/schemas/Time"}
                turns:
                  type: array
                  items:
                    type: object
                    required: [number, attempt, call, last, tool_calls]
                    properties:
                      number: {type: integer, minimum: 1}
                      attempt: {type: integer, minimum: 1}
                      call: {type: object, description: "The model call: model, tokens, cost, latency."}
                      last: {type: boolean, description: "Its last turn: no tools were offered."}
                      text: {type: string}
                      answer: {description: "The final answer, when it met the schema."}
                      repair: {type: string}
                      tool_calls:
                        type: array
                        items:
                          type: object
                          required: [id, name, effect, state]
                          properties:
                            id: {type: string}
                            name: {type: string}
                            arguments: {}
                            effect: {enum: [pure, idempotent, effectful]}
                            state: {enum: [requested, awaiting_approval, approved, running, succeeded, failed, refused, rejected, interrupted]}
                            result: {type: string}
                            is_error: {type: boolean}
                            decision: {type: object}
            FailureExplanation:
              type: object
              required: [job, run, state, trigger, retry]
              properties:
                job: {$ref: "#/components/schemas/JobID"}
                run: {type: string}
                state: {$ref: "#/components/schemas/RunState"}
                trigger: {$ref: "#/components/schemas/Trigger"}
                started_at: {$ref: "#/components/schemas/Time"}
                ended_at: {$ref: "#/components/schemas/Time"}
                error: {type: string}
                step:
                  type: object
                  required: [id, kind]
                  properties:
                    id: {type: string}
                    kind: {type: string}
                    attempt: {type: integer}
                    attempts_allowed: {type: integer}
                    error: {type: string}
                    error_kind: {type: string}
                    exit_code: {type: integer}
                    log: {type: string}
                    inputs:
                      type: array
                      items: {type: string}
                    output_tail:
                      type: array
                      items: {type: string}
                retry:
                  type: array
                  items: {type: string}
            RunStatistics:
              type: object
              required: [job, runs, succeeded, failed, cancelled]
              properties:
                job: {$ref: "#/components/schemas/JobID"}
                runs: {type: integer, minimum: 0}
                succeeded: {type: integer, minimum: 0}
                failed: {type: integer, minimum: 0}
                cancelled: {type: integer, minimum: 0}
                success_rate: {type: number, minimum: 0, maximum: 1}
                duration_p50_s: {type: number, minimum: 0}
                duration_p95_s: {type: number, minimum: 0}
                retries_per_run: {type: number, minimum: 0}
                cost_usd: {type: number, minimum: 0}
                cost_per_run_usd: {type: number, minimum: 0}
                cost_per_day_usd: {type: number, minimum: 0}
                tokens: {type: integer, minimum: 0}
                failures_by_kind:
                  type: object
                  additionalProperties: {type: integer}
                failures_by_step:
                  type: object
                  additionalProperties:
                    type: object
                    required: [runs, attempts, kinds]
                    properties:
                      runs: {type: integer}
                      attempts: {type: integer}
                      kinds:
                        type: object
                        additionalProperties: {type: integer}
            StatisticsReport:
              type: object
              required: [since, until, jobs]
              properties:
                since: {$ref: "#/components/schemas/Time"}
                until: {$ref: "#/components/schemas/Time"}
                jobs:
                  type: array
                  items: {$ref: "#/components/schemas/RunStatistics"}
        """#
}
