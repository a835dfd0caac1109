/// The JSON Schema (draft 2020-12) of the job format, printed by `wfctl schema`.
///
/// It mirrors ``JobParser`` rule for rule where JSON Schema can say it; what it cannot (a cron
/// field out of range, an unknown time zone, `needs` that name no step, cycles, template
/// references, the file name) only the parser checks. Tests hold the two together: the same
/// property names, and the same verdict on every example and on a corpus of invalid files.
public enum JobSchema {
    public static let text = #"""
        {
          "$schema": "https://json-schema.org/draft/2020-12/schema",
          "$id": "https://wfd.invalid/schema/job.json",
          "title": "wfd job file",
          "description": "One file in jobs.d: what wfd runs and when. The job id is the file name without its extension and must match [a-z0-9][a-z0-9._-]{0,63}.",
          "type": "object",
          "additionalProperties": false,
          "required": [
            "steps"
          ],
          "properties": {
            "description": {
              "type": "string",
              "description": "What the job is for, in a sentence."
            },
            "schedule": {
              "description": "When the job fires: a cron expression or a systemd calendar event, or a list of them. Leave it out for a job that only runs by hand.",
              "anyOf": [
                {
                  "$ref": "#/$defs/cron"
                },
                {
                  "type": "array",
                  "minItems": 1,
                  "items": {
                    "$ref": "#/$defs/cron"
                  }
                }
              ]
            },
            "timezone": {
              "type": "string",
              "description": "The IANA zone the schedule is read in, like Europe/Rome; default: the host's zone."
            },
            "catchup": {
              "enum": [
                "none",
                "latest",
                "all"
              ],
              "description": "Fire times missed while wfd was down: none, latest (default) or all."
            },
            "jitter": {
              "$ref": "#/$defs/duration",
              "description": "A random delay in [0, jitter) added to each fire time."
            },
            "concurrency": {
              "enum": [
                "skip",
                "queue",
                "cancel-previous"
              ],
              "description": "What a new run does while one is active: skip (default), queue or cancel-previous."
            },
            "timeout": {
              "$ref": "#/$defs/duration",
              "description": "The limit for a whole run."
            },
            "budget": {
              "$ref": "#/$defs/budget",
              "description": "Hard caps over the LLM steps of one run."
            },
            "daily_budget": {
              "$ref": "#/$defs/budget",
              "description": "Hard caps over the LLM steps of all runs of the job in one day (UTC)."
            },
            "on_budget": {
              "enum": [
                "fail",
                "approve"
              ],
              "description": "What an LLM call that could pass a budget does: fail the step as budget_exceeded (default), or wait for a person to approve it (wfctl approve)."
            },
            "prices": {
              "type": "object",
              "description": "Prices per model in USD per million tokens, over those of /etc/wfd/prices.yaml.",
              "additionalProperties": {
                "type": "object",
                "additionalProperties": false,
                "required": [
                  "input",
                  "output"
                ],
                "properties": {
                  "input": {
                    "type": "number",
                    "minimum": 0
                  },
                  "output": {
                    "type": "number",
                    "minimum": 0
                  }
                }
              }
            },
            "params": {
              "type": "object",
              "description": "Parameters a run can be given (wfctl run JOB --param name=value); steps see them as WF_PARAM_<NAME>.",
              "propertyNames": {
                "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"
              },
              "additionalProperties": {
                "anyOf": [
                  {
                    "type": "null"
                  },
                  {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                      "default": {
                        "type": [
                          "string",
                          "number",
                          "boolean"
                        ],
                        "description": "The value when none is given."
                      },
                      "required": {
                        "type": "boolean",
                        "description": "A run must be given this parameter."
                      },
                      "description": {
                        "type": "string"
                      }
                    },
                    "if": {
                      "properties": {
                        "required": {
                          "const": true
                        }
                      },
                      "required": [
                        "required"
                      ]
                    },
                    "then": {
                      "not": {
                        "required": [
                          "default"
                        ]
                      }
                    }
                  }
                ]
              }
            },
            "env": {
              "$ref": "#/$defs/env"
            },
            "secrets": {
              "description": "Names of secrets (systemd credentials, from $CREDENTIALS_DIRECTORY) the job may use.",
              "anyOf": [
                {
                  "$ref": "#/$defs/secretName"
                },
                {
                  "type": "array",
                  "uniqueItems": true,
                  "items": {
                    "$ref": "#/$defs/secretName"
                  }
                }
              ]
            },
            "enabled": {
              "type": "boolean",
              "description": "false keeps the job loaded but never scheduled; default true."
            },
            "retention": {
              "type": "object",
              "additionalProperties": false,
              "description": "How much run history to keep.",
              "properties": {
                "keep_runs": {
                  "type": "integer",
                  "minimum": 1,
                  "maximum": 10000000
                },
                "keep_days": {
                  "type": "integer",
                  "minimum": 1,
                  "maximum": 36500
                }
              }
            },
            "max_parallel": {
              "type": "integer",
              "minimum": 1,
              "maximum": 1000,
              "description": "How many steps of one run may run at once; default 4."
            },
            "on": {
              "type": "object",
              "additionalProperties": false,
              "minProperties": 1,
              "description": "What else starts a run: a webhook (POST /hooks/<job> on wfd-web), files appearing or changing, another job's runs ending.",
              "properties": {
                "webhook": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": ["secret"],
                  "properties": {
                    "verify": { "enum": ["github", "hmac", "bearer"], "description": "How a delivery proves its sender; default github (X-Hub-Signature-256)." },
                    "secret": { "type": "string", "pattern": "^[A-Za-z0-9_.-]{1,255}$", "description": "The systemd credential with the shared secret." },
                    "mode": { "enum": ["enforce", "observe"], "description": "observe lets deliveries that fail verification through and logs why; default enforce." },
                    "signature_header": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$", "description": "For verify: hmac, the header with the signature; default X-Signature-256." },
                    "delivery_header": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$", "description": "The header naming a delivery; default X-GitHub-Delivery (github) or Idempotency-Key." },
                    "headers": {
                      "type": ["string", "array"],
                      "items": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$" },
                      "description": "Headers passed on to the run as trigger.headers (never Authorization)."
                    },
                    "max_bytes": { "type": "integer", "minimum": 1, "maximum": 1048576, "description": "The largest payload taken; default 262144." },
                    "filter": { "type": "string", "pattern": "^\\s*\\$\\{\\{.*\\}\\}\\s*$", "description": "A condition over trigger (the when: language); false answers 204 and starts nothing." }
                  }
                },
                "path": {
                  "type": ["string", "array"],
                  "items": { "type": "string", "pattern": "^/" },
                  "pattern": "^/",
                  "description": "Absolute files or globs (a glob in the last part only) whose writing or moving in starts a run."
                },
                "debounce": { "type": "string", "description": "How long the files must be quiet before the run starts; default 1s." },
                "job": {
                  "type": ["string", "array"],
                  "items": { "type": "string" },
                  "description": "Jobs whose runs, ending in one of states, start a run of this one."
                },
                "states": {
                  "anyOf": [
                    { "enum": ["succeeded", "failed", "cancelled", "timed_out"] },
                    { "type": "array", "items": { "enum": ["succeeded", "failed", "cancelled", "timed_out"] } }
                  ],
                  "description": "The end states that count; default [succeeded]."
                }
              }
            },
            "executor": {
              "enum": [
                "process",
                "unit"
              ],
              "description": "How run steps start: unit (a transient systemd service, the default under systemd) or process (a child of wfd, the default elsewhere)."
            },
            "sandbox": {
              "$ref": "#/$defs/sandbox"
            },
            "resources": {
              "$ref": "#/$defs/resources"
            },
            "steps": {
              "type": "array",
              "minItems": 1,
              "items": {
                "$ref": "#/$defs/step"
              },
              "description": "The steps; 'needs' decides their order, independent steps run in parallel."
            }
          },
          "$defs": {
            "sandbox": {
              "description": "systemd sandboxing for run steps (unit executor only); a step's keys go over the job's.",
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "protect_system": {
                  "anyOf": [
                    {
                      "type": "boolean"
                    },
                    {
                      "enum": [
                        "full",
                        "strict"
                      ]
                    }
                  ]
                },
                "protect_home": {
                  "anyOf": [
                    {
                      "type": "boolean"
                    },
                    {
                      "enum": [
                        "read-only",
                        "tmpfs"
                      ]
                    }
                  ]
                },
                "read_write_paths": {
                  "$ref": "#/$defs/paths"
                },
                "read_only_paths": {
                  "$ref": "#/$defs/paths"
                },
                "inaccessible_paths": {
                  "$ref": "#/$defs/paths"
                },
                "private_tmp": {
                  "type": "boolean"
                },
                "private_network": {
                  "type": "boolean"
                },
                "private_devices": {
                  "type": "boolean"
                },
                "no_new_privileges": {
                  "type": "boolean"
                },
                "dynamic_user": {
                  "type": "boolean"
                }
              }
            },
            "paths": {
              "anyOf": [
                {
                  "type": "string",
                  "pattern": "^[-+]*/[^ \\n]*$"
                },
                {
                  "type": "array",
                  "items": {
                    "type": "string",
                    "pattern": "^[-+]*/[^ \\n]*$"
                  }
                }
              ]
            },
            "resources": {
              "description": "Limits on a run step's unit (its cgroup); unit executor only.",
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "memory_max": {
                  "anyOf": [
                    {
                      "type": "integer",
                      "minimum": 1
                    },
                    {
                      "type": "string",
                      "pattern": "^\\s*[0-9]+[KMGTkmgt]?\\s*$"
                    }
                  ]
                },
                "cpu_quota": {
                  "type": "string",
                  "pattern": "^\\s*[0-9]+%\\s*$"
                },
                "tasks_max": {
                  "type": "integer",
                  "minimum": 1,
                  "maximum": 4194304
                },
                "io_weight": {
                  "type": "integer",
                  "minimum": 1,
                  "maximum": 10000
                },
                "nice": {
                  "type": "integer",
                  "minimum": -20,
                  "maximum": 19
                }
              }
            },
            "duration": {
              "description": "A positive duration: 500ms, 90s, 5m, 1h30m, 2d (units ms, s, m, h, d); a bare number is seconds.",
              "anyOf": [
                {
                  "type": "string",
                  "pattern": "^\\s*(?=[0-9])([0-9]{1,12}(ms|s|m|h|d))*[0-9]{0,12}\\s*$"
                },
                {
                  "type": "integer",
                  "minimum": 1
                }
              ]
            },
            "cron": {
              "type": "string",
              "pattern": "\\S",
              "description": "A cron expression (5 fields minute hour day-of-month month day-of-week, or 6 with leading seconds, or @daily and the other aliases) or a systemd calendar event (daily, Mon..Fri 09:00, *-*-01 02:30 Europe/Berlin). 5 or 6 fields or a leading @ means cron."
            },
            "env": {
              "type": "object",
              "description": "Environment variables for the steps. Values are plain text; templates are not filled here.",
              "propertyNames": {
                "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                "not": {
                  "enum": [
                    "NOTIFY_SOCKET",
                    "WATCHDOG_USEC",
                    "WATCHDOG_PID",
                    "LISTEN_FDS",
                    "LISTEN_PID",
                    "LISTEN_FDNAMES",
                    "INVOCATION_ID",
                    "JOURNAL_STREAM",
                    "CREDENTIALS_DIRECTORY",
                    "STATE_DIRECTORY",
                    "CONFIGURATION_DIRECTORY",
                    "RUNTIME_DIRECTORY",
                    "CACHE_DIRECTORY",
                    "LOGS_DIRECTORY",
                    "MAINPID"
                  ]
                }
              },
              "additionalProperties": {
                "allOf": [
                  {
                    "type": [
                      "string",
                      "number",
                      "boolean"
                    ]
                  },
                  {
                    "not": {
                      "type": "string",
                      "pattern": "\\$\\{\\{"
                    }
                  }
                ]
              }
            },
            "secretName": {
              "type": "string",
              "pattern": "^[A-Za-z0-9_.-]{1,255}$",
              "not": {
                "enum": [
                  ".",
                  ".."
                ]
              }
            },
            "stepId": {
              "type": "string",
              "pattern": "^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
            },
            "template": {
              "type": "string",
              "description": "Text with ${{ path }} references: steps.<id>.output[.field], params.<name>, secrets.<name>, item[.field], run.id, run.trigger, job.id."
            },
            "step": {
              "type": "object",
              "additionalProperties": false,
              "required": [
                "id"
              ],
              "description": "One node of the DAG. Exactly one of run, http, llm, approval, agent.",
              "oneOf": [
                {
                  "required": [
                    "run"
                  ]
                },
                {
                  "required": [
                    "http"
                  ]
                },
                {
                  "required": [
                    "llm"
                  ]
                },
                {
                  "required": [
                    "approval"
                  ]
                },
                {
                  "required": [
                    "agent"
                  ]
                }
              ],
              "properties": {
                "id": {
                  "$ref": "#/$defs/stepId",
                  "description": "Unique within the job; [A-Za-z_][A-Za-z0-9_-]{0,63}."
                },
                "needs": {
                  "description": "Steps that must succeed first.",
                  "anyOf": [
                    {
                      "$ref": "#/$defs/stepId"
                    },
                    {
                      "type": "array",
                      "items": {
                        "$ref": "#/$defs/stepId"
                      }
                    }
                  ]
                },
                "run": {
                  "type": "string",
                  "pattern": "\\S",
                  "not": {
                    "pattern": "\\$\\{\\{"
                  },
                  "description": "A shell command line (/bin/sh -c). Inputs arrive as environment variables; templates are never spliced in."
                },
                "http": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": [
                    "url"
                  ],
                  "description": "One HTTP request.",
                  "not": {
                    "required": [
                      "json",
                      "body"
                    ]
                  },
                  "properties": {
                    "method": {
                      "enum": [
                        "GET",
                        "HEAD",
                        "POST",
                        "PUT",
                        "PATCH",
                        "DELETE",
                        "OPTIONS",
                        "get",
                        "head",
                        "post",
                        "put",
                        "patch",
                        "delete",
                        "options"
                      ],
                      "description": "Default GET."
                    },
                    "url": {
                      "type": "string",
                      "pattern": "^(https?://.*|.*\\$\\{\\{.*)$",
                      "description": "http:// or https://; may hold templates."
                    },
                    "headers": {
                      "type": "object",
                      "propertyNames": {
                        "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
                      },
                      "additionalProperties": {
                        "type": [
                          "string",
                          "number",
                          "boolean"
                        ]
                      }
                    },
                    "query": {
                      "type": "object",
                      "propertyNames": {
                        "minLength": 1
                      },
                      "additionalProperties": {
                        "type": [
                          "string",
                          "number",
                          "boolean"
                        ]
                      }
                    },
                    "json": {
                      "description": "A JSON body (any value); strings in it may hold templates."
                    },
                    "body": {
                      "type": "string",
                      "description": "A raw body."
                    },
                    "timeout": {
                      "$ref": "#/$defs/duration"
                    },
                    "expect": {
                      "description": "Status codes that count as success; default any 2xx.",
                      "anyOf": [
                        {
                          "type": "integer",
                          "minimum": 100,
                          "maximum": 599
                        },
                        {
                          "type": "array",
                          "items": {
                            "type": "integer",
                            "minimum": 100,
                            "maximum": 599
                          }
                        }
                      ]
                    },
                    "idempotency_key": {
                      "type": "string",
                      "pattern": "\\S",
                      "description": "Sent as Idempotency-Key and recorded, so a retried POST is safe."
                    }
                  }
                },
                "llm": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": [
                    "provider",
                    "model",
                    "prompt"
                  ],
                  "description": "One model call; with schema, its output is validated (and repaired) before it counts.",
                  "properties": {
                    "provider": {
                      "enum": [
                        "openai",
                        "anthropic"
                      ]
                    },
                    "model": {
                      "type": "string",
                      "pattern": "\\S"
                    },
                    "base_url": {
                      "type": "string",
                      "pattern": "^(https?://.*|.*\\$\\{\\{.*)$",
                      "description": "Any OpenAI-compatible server (Ollama, vLLM, llama.cpp) for provider openai; may hold templates (${{ params.llm_url }})."
                    },
                    "api_key_secret": {
                      "type": "string",
                      "description": "The name of a secret the job declares."
                    },
                    "system": {
                      "type": "string"
                    },
                    "prompt": {
                      "type": "string",
                      "pattern": "\\S"
                    },
                    "temperature": {
                      "type": "number",
                      "minimum": 0,
                      "maximum": 2
                    },
                    "max_tokens": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 10000000
                    },
                    "schema": {
                      "$ref": "https://json-schema.org/draft/2020-12/schema",
                      "description": "A JSON Schema (draft 2020-12) the output must match."
                    },
                    "repair_attempts": {
                      "type": "integer",
                      "minimum": 0,
                      "maximum": 10,
                      "description": "How often a schema violation is fed back to the model; default 2."
                    }
                  }
                },
                "approval": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": [
                    "message"
                  ],
                  "description": "A person must approve (wfctl approve) before the run goes on.",
                  "properties": {
                    "message": {
                      "type": "string",
                      "pattern": "\\S"
                    },
                    "timeout": {
                      "$ref": "#/$defs/duration"
                    },
                    "on_timeout": {
                      "enum": [
                        "reject",
                        "approve"
                      ],
                      "description": "What the timeout decides; default reject."
                    },
                    "input": {
                      "$ref": "https://json-schema.org/draft/2020-12/schema",
                      "description": "A JSON Schema for data the approver supplies (wfctl approve --input); it becomes the step's output."
                    }
                  }
                },
                "agent": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": [
                    "provider",
                    "model",
                    "instructions"
                  ],
                  "description": "A model with instructions and the tools the job declares, called in a loop until it answers (validated against schema) or max_turns, the budgets or the step's timeout stop it. Its transcript is durable: after a crash the loop goes on from it.",
                  "properties": {
                    "provider": {
                      "$ref": "#/$defs/step/properties/llm/properties/provider"
                    },
                    "model": {
                      "$ref": "#/$defs/step/properties/llm/properties/model"
                    },
                    "base_url": {
                      "$ref": "#/$defs/step/properties/llm/properties/base_url"
                    },
                    "api_key_secret": {
                      "$ref": "#/$defs/step/properties/llm/properties/api_key_secret"
                    },
                    "system": {
                      "$ref": "#/$defs/step/properties/llm/properties/system"
                    },
                    "instructions": {
                      "type": "string",
                      "pattern": "\\S",
                      "description": "What the agent is to do; may hold templates."
                    },
                    "temperature": {
                      "$ref": "#/$defs/step/properties/llm/properties/temperature"
                    },
                    "max_tokens": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 10000000,
                      "description": "Each model call's max_tokens."
                    },
                    "max_turns": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 100,
                      "description": "The most model calls (repairs aside); the last offers no tools. Default 10."
                    },
                    "schema": {
                      "$ref": "https://json-schema.org/draft/2020-12/schema",
                      "description": "A JSON Schema (draft 2020-12) the final answer must match."
                    },
                    "repair_attempts": {
                      "type": "integer",
                      "minimum": 0,
                      "maximum": 10,
                      "description": "How often a schema violation of the answer is fed back; default 2."
                    },
                    "tools": {
                      "type": "array",
                      "description": "The tools the model may call: each does exactly one of http, run or job.",
                      "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": [
                          "name"
                        ],
                        "oneOf": [
                          {
                            "required": [
                              "http"
                            ]
                          },
                          {
                            "required": [
                              "run"
                            ]
                          },
                          {
                            "required": [
                              "job"
                            ]
                          }
                        ],
                        "properties": {
                          "name": {
                            "type": "string",
                            "pattern": "^[A-Za-z0-9_-]{1,64}$",
                            "not": {
                              "const": "final_answer"
                            }
                          },
                          "description": {
                            "type": "string",
                            "pattern": "\\S",
                            "description": "What the tool does, for the model."
                          },
                          "http": {
                            "$ref": "#/$defs/step/properties/http",
                            "description": "A request; its fields may read the model's arguments as ${{ args.NAME }}."
                          },
                          "run": {
                            "type": "string",
                            "pattern": "\\S",
                            "not": {
                              "pattern": "\\$\\{\\{"
                            },
                            "description": "A fixed command line; the arguments arrive as WF_ARGS (JSON) and WF_ARG_<NAME>."
                          },
                          "job": {
                            "type": "string",
                            "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$",
                            "description": "Another job: its run is started with the arguments as its parameters and awaited; its state and outputs are the result."
                          },
                          "schema": {
                            "$ref": "https://json-schema.org/draft/2020-12/schema",
                            "description": "The arguments' JSON Schema (of an object); default: derived from the ${{ args.NAME }} the tool reads."
                          },
                          "effect": {
                            "enum": [
                              "pure",
                              "idempotent",
                              "effectful"
                            ],
                            "description": "What recovery may repeat; default effectful for run, by method for http."
                          },
                          "approve": {
                            "type": "boolean",
                            "description": "A person approves each call before it runs (wfctl approve)."
                          }
                        }
                      }
                    },
                    "mcp_servers": {
                      "type": "array",
                      "description": "MCP servers started over stdio; only the tools listed are offered.",
                      "items": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": [
                          "name",
                          "command",
                          "tools"
                        ],
                        "properties": {
                          "name": {
                            "type": "string",
                            "pattern": "\\S"
                          },
                          "command": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                              "type": "string",
                              "minLength": 1
                            },
                            "description": "The program and its arguments (no shell)."
                          },
                          "env": {
                            "type": "object",
                            "additionalProperties": {
                              "type": "string"
                            }
                          },
                          "tools": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                              "type": "string",
                              "pattern": "^[A-Za-z0-9_-]{1,64}$"
                            },
                            "description": "The allowlist: the server's tools the model may call."
                          },
                          "effect": {
                            "enum": [
                              "pure",
                              "idempotent",
                              "effectful"
                            ],
                            "description": "Default effectful."
                          },
                          "approve": {
                            "type": "boolean"
                          }
                        }
                      }
                    }
                  }
                },
                "output": {
                  "enum": [
                    "text",
                    "json"
                  ],
                  "description": "How stdout becomes the step's output; json must parse. Default text."
                },
                "retry": {
                  "type": "object",
                  "additionalProperties": false,
                  "required": [
                    "attempts"
                  ],
                  "description": "How failed attempts are tried again.",
                  "properties": {
                    "attempts": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 100,
                      "description": "Counts the first try."
                    },
                    "delay": {
                      "$ref": "#/$defs/duration"
                    },
                    "backoff": {
                      "type": "number",
                      "minimum": 1,
                      "maximum": 10
                    },
                    "max_delay": {
                      "$ref": "#/$defs/duration"
                    },
                    "on_exit_codes": {
                      "anyOf": [
                        {
                          "type": "integer",
                          "minimum": 1,
                          "maximum": 255
                        },
                        {
                          "type": "array",
                          "items": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 255
                          }
                        }
                      ]
                    }
                  }
                },
                "timeout": {
                  "$ref": "#/$defs/duration",
                  "description": "The limit for one attempt: SIGTERM to its process group, a grace period, SIGKILL."
                },
                "env": {
                  "$ref": "#/$defs/env"
                },
                "secrets": {
                  "type": "array",
                  "uniqueItems": true,
                  "items": {
                    "$ref": "#/$defs/secretName"
                  },
                  "description": "Secrets of the job this step's process gets, as $WF_SECRET_<NAME>."
                },
                "workdir": {
                  "type": "string",
                  "pattern": "\\S",
                  "description": "The working directory; relative to the jobs directory. Default: the jobs directory."
                },
                "user": {
                  "type": "string",
                  "pattern": "^[A-Za-z0-9_.$-]+$",
                  "description": "Run the step as this user (wfd must run as root)."
                },
                "sandbox": {
                  "$ref": "#/$defs/sandbox"
                },
                "resources": {
                  "$ref": "#/$defs/resources"
                },
                "effect": {
                  "enum": [
                    "pure",
                    "idempotent",
                    "effectful"
                  ],
                  "description": "What recovery may re-run after a crash; default effectful for run, by method for http, pure for llm, idempotent for agent (its loop goes on from its transcript)."
                },
                "for_each": {
                  "type": "string",
                  "pattern": "^\\s*\\$\\{\\{[^}]*\\}\\}\\s*$",
                  "description": "One reference to a JSON array; the step runs once per item (${{ item }})."
                },
                "when": {
                  "description": "success (default), always, failure, or a ${{ … }} expression.",
                  "anyOf": [
                    {
                      "enum": [
                        "success",
                        "always",
                        "failure"
                      ]
                    },
                    {
                      "type": "string",
                      "pattern": "\\$\\{\\{"
                    }
                  ]
                }
              }
            },
            "budget": {
              "type": "object",
              "additionalProperties": false,
              "minProperties": 1,
              "properties": {
                "usd": {
                  "type": "number",
                  "exclusiveMinimum": 0,
                  "maximum": 1000000,
                  "description": "Dollars."
                },
                "tokens": {
                  "type": "integer",
                  "minimum": 1,
                  "maximum": 1000000000000,
                  "description": "Input plus output tokens."
                }
              }
            }
          }
        }
        """#
}
