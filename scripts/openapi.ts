// Prints the REST API's OpenAPI 3.1 document (what GET /openapi.json serves), for client generators and linters.
import { version } from '../server/deps.ts';
import { openApiDocument } from '../server/rest/openapi.ts';
import { restOperations } from '../server/rest/operations.ts';
import { appRouter } from '../server/routers/index.ts';

process.stdout.write(`${JSON.stringify(openApiDocument(restOperations(appRouter), version), null, 2)}\n`);
