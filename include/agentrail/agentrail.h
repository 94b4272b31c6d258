/* The whole agentrail public API. */
#ifndef AGENTRAIL_H
#define AGENTRAIL_H

#include "agents.h"
#include "alerts.h"
#include "bundle.h"
#include "checkpoint.h"
#include "common.h"
#include "evidence.h"
#include "ingest.h"
#include "jobs.h"
#include "log.h"
#include "migrate.h"
#include "otlp.h"
#include "policy.h"
#include "producer.h"
#include "proof.h"
#include "query.h"
#include "record.h"
#include "redact.h"
#include "report.h"
#include "retention.h"
#include "token.h"
#include "verify.h"

#endif
