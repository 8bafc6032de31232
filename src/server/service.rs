//! oneview's Flight SQL service: statements and prepared statements over the
//! project's session, catalog metadata, and the handshake. Every call is
//! authenticated; every query is read-only and runs within the limits.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    Any, CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandStatementQuery, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    SqlSupportedTransaction, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::catalog::TableProvider;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableType;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SQLOptions, SessionState};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;
use futures::{Stream, StreamExt, TryStreamExt, stream};
use prost::Message;
use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Auth, Caller};
use super::handle::{Handle, positional_placeholders};
use super::limits::Limits;
use super::wire;
use crate::project::WireTypes;

type DoGetStream = <OneviewFlightSql as FlightService>::DoGetStream;

pub struct OneviewFlightSql {
    state: SessionState,
    auth: Arc<Auth>,
    limits: Limits,
    wire: WireTypes,
    sql_info: SqlInfoData,
}

impl OneviewFlightSql {
    pub fn new(ctx: &SessionContext, auth: Arc<Auth>, limits: Limits, wire: WireTypes) -> Self {
        let mut info = SqlInfoDataBuilder::new();
        info.append(SqlInfo::FlightSqlServerName, "oneview");
        info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        info.append(SqlInfo::FlightSqlServerArrowVersion, "59.3");
        info.append(SqlInfo::FlightSqlServerReadOnly, true);
        info.append(SqlInfo::FlightSqlServerSql, true);
        info.append(SqlInfo::FlightSqlServerSubstrait, false);
        info.append(
            SqlInfo::FlightSqlServerTransaction,
            SqlSupportedTransaction::None as i32,
        );
        info.append(SqlInfo::FlightSqlServerCancel, false);
        info.append(
            SqlInfo::FlightSqlServerStatementTimeout,
            limits.query_timeout.as_millis().min(i32::MAX as u128) as i32,
        );
        OneviewFlightSql {
            state: ctx.state(),
            auth,
            limits,
            wire,
            sql_info: info.build().expect("static SQL info"),
        }
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        self.auth.check(request.metadata())
    }

    /// A context for one query: the shared catalog and functions, with a
    /// memory pool of its own so one query cannot starve the others.
    fn query_context(&self) -> SessionContext {
        let base = self.state.runtime_env();
        // The session's file-listing and metadata caches, spill directory and
        // object stores are shared; only the memory pool is the query's own.
        let runtime = Arc::new(RuntimeEnv {
            memory_pool: Arc::new(FairSpillPool::new(self.limits.query_memory)),
            disk_manager: Arc::clone(&base.disk_manager),
            cache_manager: Arc::clone(&base.cache_manager),
            object_store_registry: Arc::clone(&base.object_store_registry),
        });
        let state = SessionStateBuilder::new_from_existing(self.state.clone())
            .with_runtime_env(runtime)
            .build();
        SessionContext::new_with_state(state)
    }

    /// Plans a statement for a remote client: queries only.
    async fn plan(&self, ctx: &SessionContext, handle: &Handle, deadline: Instant) -> Result<DataFrame, Status> {
        let planning = async {
            let sql = positional_placeholders(&handle.sql);
            let plan = ctx.state().create_logical_plan(&sql).await.map_err(status)?;
            SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false)
                .verify_plan(&plan)
                .map_err(|e| {
                    Status::permission_denied(format!(
                        "remote clients are read-only: {}",
                        e.strip_backtrace().trim_start_matches("Error during planning: ")
                    ))
                })?;
            let frame = ctx.execute_logical_plan(plan).await.map_err(status)?;
            let params = handle.param_values()?;
            if params.is_empty() {
                Ok(frame)
            } else {
                frame.with_param_values(params).map_err(status)
            }
        };
        tokio::time::timeout_at(deadline, planning)
            .await
            .map_err(|_| Status::deadline_exceeded("planning the query took longer than the query timeout"))?
    }

    fn wire_schema(&self, frame: &DataFrame) -> SchemaRef {
        wire::schema(&Arc::new(frame.schema().as_arrow().clone()), self.wire)
    }

    async fn flight_info(
        &self,
        handle: &Handle,
        ticket: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let ctx = self.query_context();
        let frame = self.plan(&ctx, handle, self.limits.deadline()).await?;
        let schema = self.wire_schema(&frame);
        Ok(FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
            .with_descriptor(descriptor)
            .with_ordered(true))
    }

    /// Executes and streams, within the concurrency, memory and time limits.
    /// The query runs in a task of its own that feeds a short channel: at
    /// the deadline it stops and frees its slot whether or not the client is
    /// still reading, and a client that goes away cancels it.
    async fn stream(&self, handle: &Handle) -> Result<Response<DoGetStream>, Status> {
        let deadline = self.limits.deadline();
        let permit = self.limits.acquire(deadline).await?;
        let ctx = self.query_context();
        let frame = self.plan(&ctx, handle, deadline).await?;
        let schema = self.wire_schema(&frame);
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<RecordBatch, Status>>(2);
        let wire_schema = Arc::clone(&schema);
        let timeout = self.limits.query_timeout;
        let results = sender.clone();
        // The query in a task of its own, watched by a second one: an operator
        // that computes for long between batches cannot hold back the
        // deadline, the error or the slot.
        let mut query = query_runtime().spawn(async move {
            let mut batches = frame.execute_stream().await.map_err(status)?;
            while let Some(batch) = batches.next().await {
                let batch =
                    wire::batch(batch.map_err(status)?, &wire_schema).map_err(|e| Status::internal(e.to_string()))?;
                if results.send(Ok(batch)).await.is_err() {
                    break; // the client went away
                }
            }
            Ok::<(), Status>(())
        });
        tokio::spawn(async move {
            let outcome = tokio::select! {
                joined = &mut query => joined.unwrap_or_else(|e| Err(Status::internal(format!("the query stopped: {e}")))),
                _ = tokio::time::sleep_until(deadline) => {
                    query.abort();
                    Err(Status::deadline_exceeded(format!(
                        "the query ran longer than its limit of {} s",
                        timeout.as_secs()
                    )))
                }
            };
            drop(permit);
            // Only the error waits for the reader, so a cut result is never
            // mistaken for a complete one.
            if let Err(error) = outcome {
                let _ = sender.send(Err(error)).await;
            }
        });
        let batches = stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        Ok(Response::new(encode(schema, batches)))
    }

    fn batch_info<C: ProstMessageExt>(
        &self,
        command: C,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        Ok(FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(command.as_any().encode_to_vec())))
            .with_descriptor(descriptor))
    }

    fn catalogs(&self) -> Vec<String> {
        let mut names = self.state.catalog_list().catalog_names();
        names.sort();
        names
    }

    fn schemas(&self, catalog: &str) -> Vec<String> {
        let mut names = self
            .state
            .catalog_list()
            .catalog(catalog)
            .map(|c| c.schema_names())
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn encode(schema: SchemaRef, batches: impl Stream<Item = Result<RecordBatch, Status>> + Send + 'static) -> DoGetStream {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(batches.map_err(FlightError::from))
        .map_err(Status::from);
    Box::pin(stream)
}

fn one_batch(batch: RecordBatch) -> DoGetStream {
    let schema = batch.schema();
    encode(schema, stream::iter([Ok(batch)]))
}

/// The runtime queries execute on, apart from the one answering calls and
/// keeping time: a query whose operators compute for long without yielding
/// then cannot stall deadlines, other clients or shutdown.
fn query_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("oneview-query")
            .enable_all()
            .build()
            .expect("the query runtime starts")
    })
}

/// Maps a DataFusion error to the gRPC status a client can act on.
pub fn status(e: DataFusionError) -> Status {
    let message = e.strip_backtrace();
    match e.find_root() {
        DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(message),
        DataFusionError::NotImplemented(_) => Status::unimplemented(message),
        DataFusionError::Plan(_) | DataFusionError::SQL(..) | DataFusionError::SchemaError(..) => {
            Status::invalid_argument(message)
        }
        _ => Status::internal(message),
    }
}

fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(message.0)
}

fn table_type_name(t: TableType) -> &'static str {
    match t {
        TableType::Base => "TABLE",
        TableType::View => "VIEW",
        TableType::Temporary => "LOCAL TEMPORARY",
    }
}

#[tonic::async_trait]
impl FlightSqlService for OneviewFlightSql {
    type FlightService = OneviewFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>, Status> {
        let caller = self.caller(&request)?;
        let token = self.auth.issue(&caller)?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().unwrap_or_default().into(),
        };
        let mut response: Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>> =
            Response::new(Box::pin(stream::iter([Ok(reply)])));
        if let Some(token) = token {
            let header = format!("Bearer {token}")
                .parse()
                .map_err(|_| Status::internal("cannot build the authorization header"))?;
            response.metadata_mut().insert("authorization", header);
        }
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let handle = Handle::new(query.query);
        let ticket = TicketStatementQuery {
            statement_handle: handle.encode()?,
        };
        let info = self
            .flight_info(&handle, ticket.as_any().encode_to_vec(), request.into_inner())
            .await?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        self.stream(&Handle::decode(&ticket.statement_handle)?).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        self.caller(&request)?;
        let handle = Handle::new(query.query);
        let ctx = self.query_context();
        let frame = self.plan(&ctx, &handle, self.limits.deadline()).await?;
        let mut parameters: Vec<(String, Option<DataType>)> = frame
            .logical_plan()
            .get_parameter_types()
            .map_err(status)?
            .into_iter()
            .collect();
        // $1, $2, … in numeric order.
        parameters.sort_by_key(|(name, _)| name.trim_start_matches('$').parse::<u64>().unwrap_or(u64::MAX));
        let parameter_schema = Schema::new(
            parameters
                .into_iter()
                .map(|(name, t)| Field::new(name, t.unwrap_or(DataType::Null), true))
                .collect::<Vec<_>>(),
        );
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.encode()?,
            dataset_schema: ipc_schema(&self.wire_schema(&frame))?,
            parameter_schema: ipc_schema(&parameter_schema)?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.caller(&request)?;
        let mut handle = Handle::decode(&query.prepared_statement_handle)?;
        let batches: Vec<RecordBatch> = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(
            request.into_inner().map_err(FlightError::from),
        )
        .try_collect()
        .await
        .map_err(|e| Status::invalid_argument(format!("cannot read the parameters: {e}")))?;
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        handle.params = match batches.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            _ => {
                return Err(Status::invalid_argument(
                    "parameters arrive as one row per execution; got several batches",
                ));
            }
        };
        handle.param_values()?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(handle.encode()?),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let handle = Handle::decode(&query.prepared_statement_handle)?;
        let info = self
            .flight_info(&handle, query.as_any().encode_to_vec(), request.into_inner())
            .await?;
        Ok(Response::new(info))
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        self.stream(&Handle::decode(&query.prepared_statement_handle)?).await
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        // Handles hold everything; there is nothing to release.
        self.caller(&request)?;
        Ok(())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.into_builder().schema();
        Ok(Response::new(self.batch_info(query, &schema, request.into_inner())?))
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        let mut builder = query.into_builder();
        for catalog in self.catalogs() {
            builder.append(catalog);
        }
        let batch = builder.build().map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        Ok(Response::new(self.batch_info(query, &schema, request.into_inner())?))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        let mut builder = query.into_builder();
        for catalog in self.catalogs() {
            for schema in self.schemas(&catalog) {
                builder.append(&catalog, schema);
            }
        }
        let batch = builder.build().map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        Ok(Response::new(self.batch_info(query, &schema, request.into_inner())?))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        let include_schema = query.include_schema;
        let mut builder = query.into_builder();
        let catalogs = self.state.catalog_list();
        for catalog_name in self.catalogs() {
            let Some(catalog) = catalogs.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in self.schemas(&catalog_name) {
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                let mut tables = schema.table_names();
                tables.sort();
                for table in tables {
                    // Opening a table reads its files' metadata: only when its schema is asked for.
                    let (kind, table_schema) = if include_schema {
                        let provider: Option<Arc<dyn TableProvider>> = schema.table(&table).await.map_err(status)?;
                        match provider {
                            Some(p) => (p.table_type(), wire::schema(&p.schema(), self.wire)),
                            None => continue,
                        }
                    } else {
                        let kind = schema
                            .table_type(&table)
                            .await
                            .map_err(status)?
                            .unwrap_or(TableType::Base);
                        (kind, Arc::new(Schema::empty()))
                    };
                    builder
                        .append(
                            &catalog_name,
                            &schema_name,
                            &table,
                            table_type_name(kind),
                            &table_schema,
                        )
                        .map_err(|e| Status::internal(e.to_string()))?;
                }
            }
        }
        let batch = builder.build().map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.into_builder().schema();
        Ok(Response::new(self.batch_info(query, &schema, request.into_inner())?))
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        let mut builder = query.into_builder();
        for kind in ["LOCAL TEMPORARY", "TABLE", "VIEW"] {
            builder.append(kind);
        }
        let batch = builder.build().map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder(&self.sql_info).schema();
        Ok(Response::new(self.batch_info(query, &schema, request.into_inner())?))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        let batch = query
            .into_builder(&self.sql_info)
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        self.caller(&request)?;
        if request.get_ref().r#type == "CloseSession" {
            // The server keeps no session state: closing always succeeds.
            // CloseSessionResult { status: CLOSED } in protobuf: field 1, varint 1.
            let result = arrow_flight::Result::new(vec![0x08, 0x01]);
            return Ok(Response::new(Box::pin(stream::iter([Ok(result)]))));
        }
        Err(Status::unimplemented(format!(
            "action `{}` is not supported by this read-only server",
            request.get_ref().r#type
        )))
    }

    async fn do_get_fallback(&self, request: Request<Ticket>, message: Any) -> Result<Response<DoGetStream>, Status> {
        self.caller(&request)?;
        Err(Status::unimplemented(format!("{} is not supported", message.type_url)))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
